"""`make bench`: pocketchat over HTTP/SSE against raw llama.cpp and the memory-bandwidth bound.

`python -m bench` (with scripts/ on the path) runs it; `bench.client`, the HTTP/SSE client and
server process it drives, is what the backend's tests use too.
"""
