//! COSE interop: pycose in both directions, and the COSE working group vectors.
