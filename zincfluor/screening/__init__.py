"""zincfluor.screening"""
