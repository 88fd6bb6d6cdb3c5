#pragma once
// A minimal HTTP/1.1 client for local services such as an Ollama server: one POST of a JSON
// body, the whole response read (Content-Length, chunked, or until the server closes). Plain
// http:// only. Errors name the URL: nothing answering, a timeout, a status other than 2xx (with
// the start of the response body).

#include <string>

namespace structseq::io {

// The response body.
std::string http_post_json(const std::string& url, const std::string& body,
                           double timeout_seconds = 600);

}  // namespace structseq::io
