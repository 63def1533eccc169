// RFB (the VNC protocol, RFC 6143) numbers the proxy needs: versions, security types, and the
// client-to-server message types it must recognise to keep its place in the stream.

/** Every RFB greeting is 12 bytes: "RFB 003.008\n". */
export const VERSION_LENGTH = 12;

export const SECURITY_INVALID = 0;
export const SECURITY_NONE = 1;
export const SECURITY_VNC_AUTH = 2;

export const SECURITY_RESULT_OK = 0;

/** A VNC Authentication challenge (and its response) is 16 bytes. */
export const CHALLENGE_LENGTH = 16;

/** Client-to-server message types: RFC 6143 section 7.5 and the extensions noVNC sends. */
export const ClientMessage = {
  SetPixelFormat: 0,
  SetEncodings: 2,
  FramebufferUpdateRequest: 3,
  KeyEvent: 4,
  PointerEvent: 5,
  ClientCutText: 6,
  EnableContinuousUpdates: 150,
  ClientFence: 248,
  Xvp: 250,
  SetDesktopSize: 251,
  Qemu: 255,
} as const;

/** Sub-types of the QEMU client message (type 255). */
export const QemuMessage = {
  ExtendedKeyEvent: 0,
  Audio: 1,
} as const;
