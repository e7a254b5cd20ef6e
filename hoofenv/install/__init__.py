"""Plan -> a managed environment: sources and installers (uv/pip command lines), the recipe of steps, the step
runner, staging and the switch, the mmcv build and its wheel cache, the lock, the wheelhouse download.

`pipeline.install()` is the entry point; progress goes to a callback the CLI renders, nothing here prints.
"""
