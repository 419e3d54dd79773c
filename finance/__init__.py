"""Brazilian small-business finance, pure and offline: amounts in Portuguese, CPF/CNPJ check
digits, Simples Nacional and MEI, PIX BR Codes, business days and tax/labour due dates.

Imports nothing of ours but `core`: the tools in `tools/finance.py` wrap it.
"""
