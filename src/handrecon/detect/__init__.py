"""handrecon.detect"""
