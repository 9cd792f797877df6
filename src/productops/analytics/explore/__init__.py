"""The explorer pages (trends, funnels, retention, stickiness, lifecycle, paths): the question
at the side, the answer with its chart, numbers and SQL."""
