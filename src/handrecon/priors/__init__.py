"""handrecon.priors"""
