"""handrecon.hand"""
