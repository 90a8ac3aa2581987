//! The sandbox's listener: plain TCP (or what a [`Transport`] makes of it, such as TLS), except
//! that a handler can make its connection end with a reset instead of a response, the way a
//! crashed worker or a dropped proxy link looks to a client.
//!
//! Each accepted stream is wrapped in [`ConnIo`], which shares an abort flag with the
//! [`Conn`] handle that handlers receive as connect info. Once a handler calls
//! [`Conn::reset`], the next write of the response fails, hyper drops the connection, and the
//! socket closes with `SO_LINGER` set to zero, which sends an RST: the client sees "connection
//! reset" without a single byte of response.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::serve::{IncomingStream, Listener};
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A connection the portal speaks HTTP over: a TCP stream, or a stream layered on one (TLS).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// The TCP stream underneath (for the reset fault).
    fn tcp(&self) -> &TcpStream;
}

impl Io for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// Turns an accepted TCP connection into the stream HTTP is spoken over.
pub type Wrap = Arc<dyn Fn(TcpStream) -> BoxFuture<'static, io::Result<Box<dyn Io>>> + Send + Sync>;

/// How the sandbox serves its connections when not plain HTTP: for example TLS, so that a
/// benchmark pays what a client of a real portal pays. The sandbox itself has no TLS
/// dependency: the caller brings the handshake.
#[derive(Clone)]
pub struct Transport {
    pub(crate) scheme: String,
    pub(crate) wrap: Wrap,
    pub(crate) root: Option<Vec<u8>>,
}

impl Transport {
    /// Connections wrapped by `wrap`, the portal's addresses starting with `scheme`
    /// (`https`).
    pub fn new(scheme: &str, wrap: Wrap) -> Self {
        Self {
            scheme: scheme.to_owned(),
            wrap,
            root: None,
        }
    }

    /// The certificate (PEM) clients must trust; [`super::Sandbox::client_builder`] then
    /// trusts it.
    pub fn root_certificate(mut self, pem: &[u8]) -> Self {
        self.root = Some(pem.to_vec());
        self
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// Accepts connections and wraps them in [`ConnIo`].
pub(crate) struct SandboxListener {
    pub(crate) listener: TcpListener,
    /// This is the renamed portal's address (see [`super::Fault::Redirect`]).
    pub(crate) renamed: bool,
    pub(crate) transport: Option<Transport>,
}

impl Listener for SandboxListener {
    type Io = ConnIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let stream: Box<dyn Io> = match &self.transport {
                        None => Box::new(stream),
                        Some(transport) => match (transport.wrap)(stream).await {
                            Ok(stream) => stream,
                            Err(e) => {
                                tracing::debug!("sandbox connection setup failed: {e}");
                                continue;
                            }
                        },
                    };
                    let io = ConnIo {
                        stream,
                        abort: Arc::new(AtomicBool::new(false)),
                        renamed: self.renamed,
                    };
                    return (io, addr);
                }
                // Out of file descriptors and the like: wait a little, as axum's own loop does.
                Err(e) => {
                    tracing::warn!("sandbox accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A TCP stream that fails (and closes with a reset) once its connection is aborted.
pub(crate) struct ConnIo {
    stream: Box<dyn Io>,
    abort: Arc<AtomicBool>,
    renamed: bool,
}

impl ConnIo {
    fn aborted(&self) -> Option<io::Error> {
        if !self.abort.load(Ordering::Acquire) {
            return None;
        }
        // Zero linger: close() sends RST at once and never blocks.
        let _ = self.stream.tcp().set_zero_linger();
        Some(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "sandbox fault: connection reset",
        ))
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.aborted() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.aborted() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.aborted() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.aborted() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.aborted() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A handler's handle on its connection.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    abort: Arc<AtomicBool>,
    /// The request came in at the renamed portal's address.
    pub(crate) renamed: bool,
}

impl Conn {
    /// Makes the connection end with a reset instead of the response.
    pub(crate) fn reset(&self) {
        self.abort.store(true, Ordering::Release);
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, SandboxListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SandboxListener>) -> Self {
        Self {
            abort: stream.io().abort.clone(),
            renamed: stream.io().renamed,
        }
    }
}
