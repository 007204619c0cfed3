"""handrecon.texture"""
