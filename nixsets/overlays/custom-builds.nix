# custom-builds: packages built with non-default compilation flags. Empty by default; it exists
# so that projects which name it keep working when the release adds entries.
final: prev: { }
