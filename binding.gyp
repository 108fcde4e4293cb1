{
  "targets": [{
    "target_name": "rtnl",
    "sources": [
      "native/addon.cc",
      "native/arg.cc",
      "native/handle.cc",
      "native/socket.cc",
      "native/netns.cc",
      "native/attrs.cc",
      "native/codec_link.cc",
      "native/link_kinds.cc",
      "native/codec_addr.cc",
      "native/codec_route.cc",
      "native/codec_neigh.cc",
      "native/codec_rule.cc",
      "native/codec_nexthop.cc",
      "native/codec_tc.cc",
      "native/codec_tc_filter.cc",
      "native/events.cc",
      "native/peercred.cc"
    ],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++20", "-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"]
  },
  {
    "target_name": "rtnl-cni-client",
    "type": "executable",
    "sources": ["native/cni_client.c"],
    "cflags": ["-O2", "-Wall", "-Wextra"]
  }]
}
