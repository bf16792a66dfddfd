"""zincfluor.methods"""
