"""handrecon.fit"""
