"""handrecon.synth"""
