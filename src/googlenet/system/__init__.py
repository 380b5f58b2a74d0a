"""The machine and the file system: CPU features and memory, atomic files, progress bars, threads.

The lowest floor of the package: it imports nothing of googlenet but :mod:`googlenet.errors`.
"""
