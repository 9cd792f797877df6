"""duplicates"""
