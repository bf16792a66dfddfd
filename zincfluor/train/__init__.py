"""zincfluor.train"""
