"""handrecon.data"""
