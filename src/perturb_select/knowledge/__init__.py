"""The knowledge graph and everything it is made from.

``fetch`` (mirror, URL, sha256, archive members), ``annotations`` (GO files through goatools; GEARS's gene2go
pickle), ``symbols`` (gene_info, symbol resolution, gene lists), ``jaccard`` (the sparse Jaccard top-k),
``graph`` (``KnowledgeGraph``: receptive fields, GEARS's SGC operator, subgraphs), ``kernels`` (the diffusion
kernel ``exp(-beta L)``) and ``build`` (the one builder and its cache). Nothing here imports torch or the rest
of the package but ``config`` and ``io``.
"""
