//! The two middlewares of our own, written as plain tower services.
//!
//! `axum::middleware::from_fn` clones the whole inner service and boxes a future on every request, and a layer
//! added with `Router::layer` wraps every route, so the stack was cloned and dropped per request; on the alert
//! intake that was ~15 % of the server's instructions (bench/RESULTS.md, session 18). [`Guard`] wraps the router
//! once; [`Track`] wraps each route (it needs the matched route) and calls it without a clone or a box.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rustc_hash::FxHashMap;
use tower::{Layer, Service};

use crate::ApiError;

/// Refuses a NUL character in the path or query (PostgreSQL text cannot hold one; only the path and query reach
/// storage, bodies are checked by the JSON extractors) and turns a panic in the inner service into a 500.
#[derive(Clone, Copy, Default)]
pub struct GuardLayer;

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard { inner }
    }
}

/// See [`GuardLayer`].
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
}

fn panic_response() -> Response {
    // The panic hook has already written the message and location to the log.
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error (logged with the request id)",
    )
    .into_response()
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let nul = req
            .uri()
            .path_and_query()
            .is_some_and(|pq| pq.as_str().contains("%00"));
        if nul {
            let r = ApiError::bad_field("path", "the URL must not contain NUL characters");
            return GuardFuture::done(r.into_response());
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(inner) => GuardFuture {
                state: GuardState::Inner { inner },
            },
            Err(_) => GuardFuture::done(panic_response()),
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Guard`]'s future: the inner one, or an answer decided before it ran.
    pub struct GuardFuture<F> {
        #[pin]
        state: GuardState<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = GuardProj]
    enum GuardState<F> {
        Inner { #[pin] inner: F },
        Done { response: Option<Response> },
    }
}

impl<F> GuardFuture<F> {
    fn done(r: Response) -> Self {
        GuardFuture {
            state: GuardState::Done { response: Some(r) },
        }
    }
}

impl<F> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let polled = match state.as_mut().project() {
            GuardProj::Done { response } => {
                return Poll::Ready(Ok(response.take().unwrap_or_else(panic_response)));
            }
            GuardProj::Inner { inner } => catch_unwind(AssertUnwindSafe(|| inner.poll(cx))),
        };
        match polled {
            Ok(p) => p,
            // A future that panicked is never polled again: it is replaced by the answer.
            Err(_) => {
                state.set(GuardState::Done { response: None });
                Poll::Ready(Ok(panic_response()))
            }
        }
    }
}

/// Request counters and latency histograms by method, route and status (`tianshu_http_*` on /metrics).
#[derive(Clone, Copy, Default)]
pub struct TrackLayer;

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Track<S> {
        Track { inner }
    }
}

/// See [`TrackLayer`].
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
}

/// The metric handles of one method and route. Registering a labelled metric with the recorder builds and
/// hashes its key each time, so the handles are looked up once and kept.
struct Series {
    method: Method,
    duration: metrics::Histogram,
    by_status: Mutex<Vec<(StatusCode, metrics::Counter)>>,
    route: String,
}

impl Series {
    fn count(&self, status: StatusCode) {
        let mut by = self.by_status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = by.iter().find(|(s, _)| *s == status) {
            c.increment(1);
            return;
        }
        let c = metrics::counter!("tianshu_http_requests_total",
            "method" => self.method.to_string(), "route" => self.route.clone(), "status" => status.as_u16().to_string());
        c.increment(1);
        by.push((status, c));
    }
}

/// The handles of `method` and `route`. Methods outside HTTP's standard ones count as `OTHER`: any token is a
/// method to hyper, and one series per made-up method would let clients grow the cache and /metrics at will.
fn series(method: &Method, route: &str) -> Arc<Series> {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    static OTHER: OnceLock<Method> = OnceLock::new();
    let method = if STANDARD.contains(method) {
        method
    } else {
        OTHER.get_or_init(|| Method::from_bytes(b"OTHER").unwrap_or_default())
    };
    type Cache = Mutex<FxHashMap<String, Vec<Arc<Series>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = cache
        .get(route)
        .and_then(|v| v.iter().find(|s| s.method == method))
    {
        return s.clone();
    }
    let s = Arc::new(Series {
        method: method.clone(),
        duration: metrics::histogram!("tianshu_http_request_duration_seconds",
            "method" => method.to_string(), "route" => route.to_string()),
        by_status: Mutex::new(Vec::new()),
        route: route.to_string(),
    });
    cache.entry(route.to_string()).or_default().push(s.clone());
    s
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |m| m.as_str());
        let series = series(req.method(), route);
        TrackFuture {
            inner: self.inner.call(req),
            start: Instant::now(),
            series,
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Track`]'s future: the route's, timed.
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        series: Arc<Series>,
    }
}

impl<F> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(resp)) => {
                this.series.count(resp.status());
                this.series
                    .duration
                    .record(this.start.elapsed().as_secs_f64());
                Poll::Ready(Ok(resp))
            }
            Poll::Ready(Err(never)) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt as _;

    fn req(uri: &str) -> Request {
        Request::builder().uri(uri).body(Body::empty()).unwrap()
    }

    async fn status<S>(svc: S, uri: &str) -> StatusCode
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let r = GuardLayer.layer(svc).oneshot(req(uri)).await;
        match r {
            Ok(r) => r.status(),
            Err(never) => match never {},
        }
    }

    #[test]
    fn made_up_methods_share_one_series_per_route() {
        let m = |b: &[u8]| Method::from_bytes(b).unwrap();
        let route = "/test/made-up-methods";
        let (a, b) = (series(&m(b"FOO"), route), series(&m(b"BAR"), route));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.method.as_str(), "OTHER");
        assert!(!Arc::ptr_eq(&a, &series(&Method::GET, route)));
        assert!(Arc::ptr_eq(
            &series(&Method::GET, route),
            &series(&Method::GET, route)
        ));
    }

    #[tokio::test]
    async fn guard_passes_answers_through() {
        let ok = tower::service_fn(|_: Request| async {
            Ok::<_, Infallible>(StatusCode::ACCEPTED.into_response())
        });
        assert_eq!(status(ok, "/a?b=c").await, StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn guard_refuses_nul_in_path_or_query_without_calling_the_route() {
        let never = tower::service_fn(|_: Request| async {
            panic!("the route must not run");
            #[allow(unreachable_code)]
            Ok::<Response, Infallible>(StatusCode::OK.into_response())
        });
        assert_eq!(status(never, "/a%00b").await, StatusCode::BAD_REQUEST);
        assert_eq!(status(never, "/a?q=x%00").await, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn guard_turns_panics_into_500() {
        let in_future = tower::service_fn(|_: Request| async {
            panic!("boom while polled");
            #[allow(unreachable_code)]
            Ok::<Response, Infallible>(StatusCode::OK.into_response())
        });
        assert_eq!(
            status(in_future, "/x").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let in_call = tower::service_fn(
            |_: Request| -> std::future::Ready<Result<Response, Infallible>> {
                panic!("boom while called")
            },
        );
        assert_eq!(
            status(in_call, "/x").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
