"""zincfluor.nn"""
