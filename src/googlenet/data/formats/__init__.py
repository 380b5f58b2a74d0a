"""The dataset formats: each module registers its datasets with
:func:`googlenet.data.registry.register_dataset` when imported (the registry imports every module here on
first use). See docs/CONTRIBUTING.md, "Adding a dataset format".
"""
