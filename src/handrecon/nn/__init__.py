"""handrecon.nn"""
