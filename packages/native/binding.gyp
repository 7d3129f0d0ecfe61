{
  "targets": [
    {
      "target_name": "sluice_native",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/datagram_batch.cc",
        "src/errno_name.cc",
        "src/errors.cc",
        "src/fd_poller.cc",
        "src/fd_ops.cc",
        "src/js_callback.cc",
        "src/listener.cc",
        "src/original_dst.cc",
        "src/outbound_socket.cc",
        "src/pipe_pool.cc",
        "src/reply_cache.cc",
        "src/sockaddr.cc",
        "src/socket_setup.cc",
        "src/splice_pump.cc",
        "src/splice_relay.cc",
        "src/tcp_acceptor.cc",
        "src/tcp_connect.cc",
        "src/tcp_dial.cc",
        "src/udp_sessions.cc",
        "src/udp_socket.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
