using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core;

namespace Cairn.Cli;

/// <summary>Talks to a Cairn server's admin API; turns every failure into a <see cref="CliError"/> with a one-line reason.</summary>
internal sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;
    public Uri BaseAddress { get; }

    public ApiClient(string? server)
    {
        var url = server ?? Environment.GetEnvironmentVariable("CAIRN_SERVER") ?? "http://127.0.0.1:8776";
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new CliError($"invalid server URL '{url}'");
        BaseAddress = uri;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = uri,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public static string Path(string name) => string.Join('/', name.Split('/').Select(Uri.EscapeDataString));

    public Task<JsonNode?> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, ct);
    public Task<JsonNode?> PostAsync(string path, object? body, CancellationToken ct) => SendAsync(HttpMethod.Post, path, body, ct);
    public Task<JsonNode?> PatchAsync(string path, object? body, CancellationToken ct) => SendAsync(HttpMethod.Patch, path, body, ct);
    public Task<JsonNode?> DeleteAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Delete, path, null, ct);

    public async Task<JsonNode?> SendAsync(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body is not null) req.Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        using var resp = await SendRawAsync(req, HttpCompletionOption.ResponseContentRead, ct);
        var text = await resp.Content.ReadAsStringAsync(ct);
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    /// <summary>Sends and checks the status; the caller disposes the response.</summary>
    public async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage req, HttpCompletionOption completion, CancellationToken ct)
    {
        HttpResponseMessage resp;
        try
        {
            resp = await _http.SendAsync(req, completion, ct);
        }
        catch (HttpRequestException ex)
        {
            throw new CliError($"cannot reach the Cairn server at {BaseAddress} ({ex.Message.TrimEnd('.')}); is 'cairn serve' running?");
        }
        if (resp.IsSuccessStatusCode) return resp;
        using (resp)
        {
            var text = await resp.Content.ReadAsStringAsync(ct);
            throw new CliError(ErrorMessage(resp.StatusCode, text));
        }
    }

    private static string ErrorMessage(HttpStatusCode code, string body)
    {
        try
        {
            var node = JsonNode.Parse(body);
            var msg = node?["error"]?["message"]?.GetValue<string>() ?? node?["reason"]?.GetValue<string>();
            if (msg is not null) return msg;
        }
        catch (JsonException) { }
        return $"server answered {(int)code} {code}";
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>An error reported to the user as one line, with a non-zero exit code.</summary>
internal sealed class CliError(string message, int exitCode = 1) : Exception(message)
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
