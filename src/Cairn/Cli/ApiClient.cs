using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Cairn.Contracts;

namespace Cairn.Cli;

/// <summary>Talks to a Cairn server's admin API; turns every failure into a <see cref="CliError"/> with a one-line reason.</summary>
internal sealed class ApiClient : IDisposable
{
    private readonly Lazy<HttpClient> _http;
    public Uri BaseAddress { get; }

    /// <summary>The server's Unix socket when talking over one (a local server): it may read files named to it.</summary>
    public string? SocketPath { get; }

    private string Endpoint => SocketPath is null ? BaseAddress.ToString() : "unix:" + SocketPath;

    /// <summary>
    /// <paramref name="server"/>, else <c>$CAIRN_SERVER</c>, else the socket of a local server (<c>$CAIRN_SOCKET</c>, or
    /// <c>cairn.sock</c> in <c>$CAIRN_DATA</c> or <c>./cairn-data</c>) when it exists, else http://127.0.0.1:8776.
    /// <c>unix:PATH</c> names a socket.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The handler belongs to the lazily built HttpClient, which Dispose disposes; never built, it opened no socket.")]
    public ApiClient(string? server)
    {
        var url = server ?? Environment.GetEnvironmentVariable("CAIRN_SERVER") ?? LocalSocket() ?? "http://127.0.0.1:8776";
        // No proxy lookup, cookies or redirects: nothing the admin API uses, and each costs start-up time per CLI run.
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), UseProxy = false, UseCookies = false, AllowAutoRedirect = false };
        if (url.StartsWith("unix:", StringComparison.Ordinal))
        {
            var socket = url["unix:".Length..];
            if (socket.Length == 0) throw new CliError($"invalid server '{url}': unix: needs a socket path");
            SocketPath = System.IO.Path.GetFullPath(socket);
            var endpoint = new UnixDomainSocketEndPoint(SocketPath);
            handler.ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(endpoint, ct);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            };
            url = "http://localhost";
        }
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new CliError($"invalid server URL '{url}'");
        BaseAddress = uri;
        // Built on first use: requests with small bodies to a local socket never need it.
        _http = new Lazy<HttpClient>(() => new HttpClient(handler) { BaseAddress = uri, Timeout = Timeout.InfiniteTimeSpan });
    }

    private static string? LocalSocket()
    {
        var path = Environment.GetEnvironmentVariable("CAIRN_SOCKET") is { Length: > 0 } s && s != "none" ? s
            : System.IO.Path.Combine(Environment.GetEnvironmentVariable("CAIRN_DATA") ?? "./cairn-data", "cairn.sock");
        return File.Exists(path) ? "unix:" + path : null;
    }

    public static string Path(string name) => string.Join('/', name.Split('/').Select(Uri.EscapeDataString));

    // Every body goes out and comes back through the contracts the server uses (Cairn.Contracts), with their
    // source-generated metadata: no reflection, which a CLI run (mostly start-up) would pay for.

    public async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> answer, CancellationToken ct) =>
        Read(await SendAsync(HttpMethod.Get, path, null, ct), answer);

    public async Task<TOut> PostAsync<TIn, TOut>(string path, TIn body, JsonTypeInfo<TIn> request, JsonTypeInfo<TOut> answer, CancellationToken ct) =>
        Read(await SendAsync(HttpMethod.Post, path, JsonSerializer.Serialize(body, request), ct), answer);

    public async Task<TOut> PostAsync<TOut>(string path, JsonTypeInfo<TOut> answer, CancellationToken ct) =>
        Read(await SendAsync(HttpMethod.Post, path, null, ct), answer);

    public async Task<TOut> PatchAsync<TIn, TOut>(string path, TIn body, JsonTypeInfo<TIn> request, JsonTypeInfo<TOut> answer, CancellationToken ct) =>
        Read(await SendAsync(HttpMethod.Patch, path, JsonSerializer.Serialize(body, request), ct), answer);

    public async Task<TOut> PutAsync<TIn, TOut>(string path, TIn body, JsonTypeInfo<TIn> request, JsonTypeInfo<TOut> answer, string contentType, CancellationToken ct) =>
        Read(await SendAsync(HttpMethod.Put, path, JsonSerializer.Serialize(body, request), ct, contentType), answer);

    public async Task<TOut> DeleteAsync<TOut>(string path, JsonTypeInfo<TOut> answer, CancellationToken ct) =>
        Read(await SendAsync(HttpMethod.Delete, path, null, ct), answer);

    /// <summary>A call answered with no body (204).</summary>
    public Task DeleteAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Delete, path, null, ct);

    /// <summary>An answer read as the contract <typeparamref name="T"/>.</summary>
    public static T Read<T>(string text, JsonTypeInfo<T> answer)
    {
        try
        {
            return JsonSerializer.Deserialize(text, answer) ?? throw new CliError("the server sent an empty answer");
        }
        catch (JsonException ex)
        {
            throw new CliError($"the server sent an answer this CLI does not understand ({ex.Message.Split(". ")[0]})");
        }
    }

    /// <summary>Sends a request with an optional JSON body; returns the answer's text, or throws on an error answer.</summary>
    public async Task<string> SendAsync(HttpMethod method, string path, string? body, CancellationToken ct, string contentType = "application/json")
    {
        string text;
        if (SocketPath is not null)
        {
            // A local server: one small synchronous request over its socket (see UnixHttp).
            int status;
            try { (status, text) = UnixHttp.Send(SocketPath, method.Method, path, contentType, body); }
            catch (SocketException ex) { throw Unreachable(ex); }
            catch (IOException ex) { throw new CliError($"the Cairn server at {Endpoint} broke off: {ex.Message}"); }
            if (status is < 200 or > 299) throw Refused((HttpStatusCode)status, text);
        }
        else
        {
            using var req = new HttpRequestMessage(method, path);
            if (body is not null) req.Content = new StringContent(body, Encoding.UTF8, contentType);
            using var resp = await SendRawAsync(req, HttpCompletionOption.ResponseContentRead, ct);
            text = await resp.Content.ReadAsStringAsync(ct);
        }
        return text;
    }

    private CliError Unreachable(Exception ex)
    {
        if (SocketPath is not null && !File.Exists(SocketPath))
            return new CliError($"there is no Cairn server socket at {SocketPath}; is 'cairn serve' running on that data directory?");
        // Over a socket the message's "(localhost:80)" is the placeholder URL, not where we went: name the socket.
        var why = ex is SocketException direct ? direct.Message
            : SocketPath is not null && ex.InnerException is SocketException inner ? inner.Message : ex.Message;
        return new CliError($"cannot reach the Cairn server at {Endpoint} ({why.TrimEnd('.')}); is 'cairn serve' running?");
    }

    /// <summary>Sends and checks the status; the caller disposes the response.</summary>
    public async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage req, HttpCompletionOption completion, CancellationToken ct)
    {
        HttpResponseMessage resp;
        try
        {
            resp = await _http.Value.SendAsync(req, completion, ct);
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(ex);
        }
        if (resp.IsSuccessStatusCode) return resp;
        using (resp)
        {
            var text = await resp.Content.ReadAsStringAsync(ct);
            throw Refused(resp.StatusCode, text);
        }
    }

    /// <summary>An error answer as a CLI error: 404 exits <see cref="ExitCodes.NotFound"/>, 400 <see cref="ExitCodes.Usage"/>
    /// (the server found a value on the command line invalid), anything else <see cref="ExitCodes.Error"/>.</summary>
    private static CliError Refused(HttpStatusCode code, string body) => new(ErrorMessage(code, body), code switch
    {
        HttpStatusCode.NotFound => ExitCodes.NotFound,
        HttpStatusCode.BadRequest => ExitCodes.Usage,
        _ => ExitCodes.Error,
    });

    private static string ErrorMessage(HttpStatusCode code, string body)
    {
        // The admin API's error body, or the LUN clone API's.
        try
        {
            var msg = JsonSerializer.Deserialize(body, CairnJsonContext.Default.ApiError)?.Error?.Message
                ?? JsonSerializer.Deserialize(body, CairnJsonContext.Default.LunError)?.Reason;
            if (msg is not null) return msg;
        }
        catch (JsonException) { }
        return $"server answered {(int)code} {code}";
    }

    public void Dispose()
    {
        if (_http.IsValueCreated) _http.Value.Dispose();
    }
}

/// <summary>An error reported to the user as one line, with a non-zero exit code.</summary>
internal sealed class CliError(string message, int exitCode = ExitCodes.Error) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>A request body written by a callback, streamed without buffering.</summary>
internal sealed class StreamingContent(Func<Stream, CancellationToken, Task> write, string mediaType) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => write(stream, CancellationToken.None);
    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken ct) => write(stream, ct);

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }

    public StreamingContent Typed()
    {
        Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return this;
    }
}
