"""The offline side: reading sources, chunking, embedding, writing and publishing indexes, setup, eval, bench.

It builds on ``search`` (the runtime); ``search`` never imports it.
"""
