"""handrecon.train"""
