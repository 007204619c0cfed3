"""handrecon.render"""
