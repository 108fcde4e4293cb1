// Event subscriptions: rtnetlink multicast notifications, polled from the
// Node event loop and decoded by the same decoders as dump replies.
#pragma once

#include <napi.h>

namespace rtnl {

// The JS class: new Subscription(ns, kinds, rcvbuf, onEvents).
Napi::Function SubscriptionClass(Napi::Env env);

}  // namespace rtnl
