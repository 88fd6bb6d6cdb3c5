#include "structseq/io/http_client.h"

#include "structseq/core/error.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

namespace structseq::io {

namespace {

struct Url {
    std::string host, port, path;
};

Url parse_url(const std::string& url) {
    constexpr std::string_view scheme = "http://";
    if (!url.starts_with(scheme)) {
        fail("{}: only http:// URLs are supported (e.g. http://127.0.0.1:11434)", url);
    }
    const std::string rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    Url u;
    u.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    u.host = colon == std::string::npos ? authority : authority.substr(0, colon);
    u.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
    if (u.host.empty()) fail("{}: no host in the URL", url);
    return u;
}

class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int fd() const { return fd_; }

private:
    int fd_;
};

// Waits until fd is ready for `events` or the deadline passes.
void wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline,
              const std::string& url) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    pollfd p{fd, events, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) fail("{}: timed out", url);
}

std::string decode_chunked(std::string_view body, const std::string& url) {
    std::string out;
    std::size_t at = 0;
    while (true) {
        const auto line_end = body.find("\r\n", at);
        if (line_end == std::string_view::npos) fail("{}: malformed chunked response", url);
        const std::size_t size =
            std::stoul(std::string(body.substr(at, line_end - at)), nullptr, 16);
        at = line_end + 2;
        if (size == 0) return out;
        if (at + size > body.size()) fail("{}: truncated chunked response", url);
        out.append(body.substr(at, size));
        at += size + 2;
    }
}

// Whether `response` holds its headers and the Content-Length bytes they announce (a server
// that keeps the connection open is not waited on); without Content-Length, the server's close
// ends it.
bool response_complete(const std::string& response) {
    const auto header_end = response.find("\r\n\r\n");
    if (header_end == std::string::npos) return false;
    std::string headers = response.substr(0, header_end);
    std::transform(headers.begin(), headers.end(), headers.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto at = headers.find("\r\ncontent-length:");
    if (at == std::string::npos) return false;
    const std::size_t length = std::strtoull(headers.c_str() + at + 17, nullptr, 10);
    return response.size() >= header_end + 4 + length;
}

}  // namespace

std::string http_post_json(const std::string& url, const std::string& body,
                           double timeout_seconds) {
    const Url u = parse_url(url);
    const auto deadline =
        std::chrono::steady_clock::now() +
        std::chrono::milliseconds(static_cast<std::int64_t>(timeout_seconds * 1000));
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &found); rc != 0) {
        fail("{}: cannot resolve {} ({})", url, u.host, gai_strerror(rc));
    }
    std::string error = "nothing answers";
    int fd = -1;
    for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            error = std::strerror(errno);
            ::close(fd);
            fd = -1;
        }
    }
    ::freeaddrinfo(found);
    if (fd < 0) fail("{}: cannot connect ({}); is the server running?", url, error);
    const Socket socket(fd);
    const std::string request =
        "POST " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + u.port +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    for (std::size_t sent = 0; sent < request.size();) {
        wait_for(fd, POLLOUT, deadline, url);
        const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) fail("{}: sending failed ({})", url, std::strerror(errno));
        sent += static_cast<std::size_t>(n);
    }
    std::string response;
    char buffer[1 << 16];
    while (!response_complete(response)) {
        wait_for(fd, POLLIN, deadline, url);
        const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
        if (n < 0) fail("{}: reading failed ({})", url, std::strerror(errno));
        if (n == 0) break;
        response.append(buffer, static_cast<std::size_t>(n));
    }
    const auto header_end = response.find("\r\n\r\n");
    if (header_end == std::string::npos || !response.starts_with("HTTP/")) {
        fail("{}: not an HTTP response", url);
    }
    const std::string headers = response.substr(0, header_end);
    std::string content = response.substr(header_end + 4);
    std::string lower = headers;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower.find("transfer-encoding: chunked") != std::string::npos) {
        content = decode_chunked(content, url);
    }
    const auto space = headers.find(' ');
    const int status = space == std::string::npos ? 0 : std::atoi(headers.c_str() + space + 1);
    if (status < 200 || status >= 300) {
        fail("{}: HTTP status {}: {}", url, status,
             content.substr(0, content.find('\n')).substr(0, 200));
    }
    return content;
}

}  // namespace structseq::io
