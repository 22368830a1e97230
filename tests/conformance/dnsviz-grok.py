# Debian bookworm's dnsviz 0.9.4 imports pygraphviz.release, which its pygraphviz 1.7 no longer
# has ("pygraphviz is required, but not installed" from `grok -t`). Provide it, then run dnsviz.
import sys, types, pygraphviz
m = types.ModuleType("pygraphviz.release")
m.version = pygraphviz.__version__
sys.modules["pygraphviz.release"] = m
pygraphviz.release = m
sys.argv = ["dnsviz"] + sys.argv[1:]
exec(compile(open("/usr/bin/dnsviz").read(), "/usr/bin/dnsviz", "exec"))
