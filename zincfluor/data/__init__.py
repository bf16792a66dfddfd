"""zincfluor.data"""
