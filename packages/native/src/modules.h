// One Init function per module; addon.cc calls each in turn.
#pragma once

#include <napi.h>

namespace sluice {

void InitListener(Napi::Env env, Napi::Object exports);        // openTransparentListener
void InitOutboundSocket(Napi::Env env, Napi::Object exports);  // createSocket
void InitOriginalDst(Napi::Env env, Napi::Object exports);     // originalDestination
void InitFdOps(Napi::Env env, Napi::Object exports);           // localAddress, closeFd, resetFd, reopenDevNull, raiseFileLimit
void InitUdpSocket(Napi::Env env, Napi::Object exports);       // UdpTransparentSocket
void InitSpliceRelay(Napi::Env env, Napi::Object exports);     // SpliceRelay, spliceSupported
void InitTcpDial(Napi::Env env, Napi::Object exports);         // TcpDial
void InitTcpAcceptor(Napi::Env env, Napi::Object exports);     // TcpAcceptor

}  // namespace sluice
