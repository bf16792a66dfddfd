"""zincfluor.chem"""
