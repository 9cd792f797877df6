"""The web shell: app factory, layout, navigation, static assets."""
