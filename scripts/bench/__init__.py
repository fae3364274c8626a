"""`make bench`: pocketchat over HTTP/SSE against raw llama.cpp and the memory-bandwidth bound.

`python -m bench` (with scripts/ on the path) runs it. The backend's tests use its server
process (`bench.server`) and its HTTP client (`bench.client`: SSE parser, /metrics) too.
"""
