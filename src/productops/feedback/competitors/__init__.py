"""competitors"""
