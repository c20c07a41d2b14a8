using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Api.Tests.Lun;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Cairn.Api.Tests.OpenApi;

/// <summary>
/// The document at <c>/openapi/v1.json</c> against the running server: every endpoint is in it, and every operation
/// has an id, a success answer with a schema, its request body, and its error answers in its API's error shape. Each
/// operation is then called, and whatever the server answers must be an answer the document lists (with the fields
/// its schema requires): the operations, parameters and codes all come from the document, none from this test.
/// </summary>
public sealed class OpenApiDocumentTests : IAsyncLifetime
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];
    private LunHost _h = null!;
    private JsonObject _doc = null!;
    private string _jobId = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _h = await LunHost.StartAsync();
        // Something for the reads to find: a LUN job with its clone and target.
        var status = await _h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1]));
        _jobId = (string)status["job_id"]!;
        _doc = JsonNode.Parse(await _h.Http.GetStringAsync("/openapi/v1.json", Ct))!.AsObject();
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private IEnumerable<(string Path, string Method, JsonObject Op)> Operations() =>
        from p in _doc["paths"]!.AsObject()
        from m in Methods
        where p.Value![m] is JsonObject
        select (p.Key, m, p.Value![m]!.AsObject());

    [Fact]
    public void Every_endpoint_is_described()
    {
        var described = Operations().Select(o => $"{o.Method.ToUpperInvariant()} {o.Path}").ToHashSet();
        var endpoints = _h.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .Where(e => e.Metadata.GetMetadata<HttpMethodMetadata>() is not null)
            .ToList();
        Assert.NotEmpty(endpoints);
        foreach (var e in endpoints)
        {
            // Route patterns write a catch-all as {**name}; the document as {name}.
            var path = "/" + e.RoutePattern.RawText!.Trim('/').Replace("{**", "{", StringComparison.Ordinal);
            foreach (var m in e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods)
                Assert.Contains($"{m} {path}", described);
        }
    }

    [Fact]
    public void Every_operation_has_an_id_a_tag_a_typed_success_and_its_error_answers()
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        Assert.NotEmpty(Operations());
        foreach (var (path, method, op) in Operations())
        {
            var what = $"{method.ToUpperInvariant()} {path}";
            var id = (string?)op["operationId"];
            Assert.False(string.IsNullOrEmpty(id), $"{what}: no operationId");
            Assert.True(ids.Add(id!), $"{what}: operationId {id} is used twice");
            Assert.NotEmpty(op["tags"]?.AsArray() ?? []);

            var responses = op["responses"]!.AsObject();
            var success = responses.Where(r => r.Key.StartsWith('2')).ToList();
            Assert.True(success.Count > 0, $"{what}: no success answer");
            foreach (var (code, r) in success)
            {
                if (code == "204") { Assert.Null(r!["content"]); continue; }
                var content = r!["content"]?.AsObject();
                Assert.True(content is { Count: > 0 }, $"{what}: {code} has no content");
                foreach (var (type, media) in content!) Assert.True(media!["schema"] is JsonObject { Count: > 0 }, $"{what}: {code} {type} has no schema");
            }

            // Every operation can fail; each error answer has the error body of its API.
            var errorSchema = path.StartsWith("/lun/", StringComparison.Ordinal) ? "LunError" : "ApiError";
            var errors = responses.Where(r => r.Key[0] is '4' or '5').ToList();
            Assert.Contains(errors, r => r.Key == "500");
            foreach (var (code, r) in errors)
                Assert.Equal($"#/components/schemas/{errorSchema}", (string?)r!["content"]?["application/json"]?["schema"]?["$ref"]);

            if (op["requestBody"] is JsonObject body)
            {
                var content = body["content"]!.AsObject();
                Assert.True(content.Count > 0, $"{what}: request body without content");
                foreach (var (type, media) in content) Assert.True(media!["schema"] is JsonObject { Count: > 0 }, $"{what}: request body {type} has no schema");
            }
        }
    }

    [Fact]
    public async Task Every_answer_the_server_gives_is_one_the_document_lists()
    {
        foreach (var (path, method, op) in Operations())
        {
            var what = $"{method.ToUpperInvariant()} {path}";
            var url = Fill(path, method);
            var (code, type, text) = await SendAsync(method, url, null);
            var body = JsonNode.Parse(text.Length == 0 || type?.StartsWith("application/json", StringComparison.Ordinal) != true ? "null" : text);
            // An endpoint that reads a body must declare it: without one it says so.
            if (op["requestBody"] is null)
                Assert.False(code == 400 && text.Contains("request body is empty", StringComparison.Ordinal), $"{what} reads a body the document does not declare");
            Documented(what, op, code, type, body);

            // With a body that is no object at all, an operation that declares a JSON body refuses it, as documented.
            if (op["requestBody"]?["content"]?["application/json"] is not null)
            {
                var (c2, t2, x2) = await SendAsync(method, url, "[]");
                Assert.Equal(400, c2);
                Documented(what, op, c2, t2, JsonNode.Parse(x2));
            }
        }
    }

    [Fact]
    public async Task A_wrong_method_and_a_body_over_the_limit_are_answered_as_the_document_says()
    {
        foreach (var (path, item) in _doc["paths"]!.AsObject())
        {
            var ops = Methods.Where(m => item![m] is JsonObject).ToList();
            // A method the path does not have (nor any templated path that also matches it, as GET /volumes/{name}
            // matches /volumes/rename): 405, listed on each of the path's operations.
            var served = _doc["paths"]!.AsObject()
                .Where(p => p.Key == path || System.Text.RegularExpressions.Regex.IsMatch(path,
                    "^" + System.Text.RegularExpressions.Regex.Replace(System.Text.RegularExpressions.Regex.Escape(p.Key), @"\\\{[^}]*\}", ".+") + "$"))
                .SelectMany(p => Methods.Where(m => p.Value![m] is JsonObject)).ToHashSet();
            var wrong = Methods.First(m => !served.Contains(m));
            var (code, type, text) = await SendAsync(wrong, Fill(path, wrong), null);
            Assert.True(code == 405, $"{wrong.ToUpperInvariant()} {path} answered {code}: {text}");
            foreach (var m in ops) Documented($"{wrong.ToUpperInvariant()} {path} (for {m.ToUpperInvariant()})", item![m]!.AsObject(), code, type, JsonNode.Parse(text));

            // A JSON body over the server's limit: 413, listed on every operation that takes one.
            foreach (var m in ops.Where(m => item![m]!["requestBody"]?["content"]?["application/json"] is not null))
            {
                var what = $"{m.ToUpperInvariant()} {path}";
                var (c, t, x) = await OverLimitAsync(m, Fill(path, m));
                Assert.True(c == 413, $"{what} with a body over the limit answered {c}: {x}");
                Documented(what, item![m]!.AsObject(), c, t, JsonNode.Parse(x));
            }
        }
    }

    /// <summary>
    /// A request announcing a JSON body over the 64 MiB limit, over a raw connection: the server answers as soon as it
    /// sees the length, and an HTTP client still sending the body would only see the connection closed under it.
    /// </summary>
    private async Task<(int Code, string? Type, string Text)> OverLimitAsync(string method, string url)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(_h.Http.BaseAddress!.Host, _h.Http.BaseAddress.Port, Ct);
        await using var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"{method.ToUpperInvariant()} {url} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {(64 << 20) + 16}\r\n\r\n{{\"a\":["), Ct);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var status = await reader.ReadLineAsync(Ct) ?? "";
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (await reader.ReadLineAsync(Ct) is { Length: > 0 } line)
            if (line.IndexOf(':', StringComparison.Ordinal) is var colon and > 0) headers[line[..colon]] = line[(colon + 1)..].Trim();
        var body = new StringBuilder();
        if (headers.TryGetValue("Content-Length", out var length))
        {
            var buf = new char[int.Parse(length, System.Globalization.CultureInfo.InvariantCulture)];
            await reader.ReadBlockAsync(buf, Ct);
            body.Append(buf);
        }
        else
        {
            // Chunked: hex size line, data, CRLF, …, 0.
            while (await reader.ReadLineAsync(Ct) is { Length: > 0 } size && int.Parse(size, System.Globalization.NumberStyles.HexNumber, null) is var n and > 0)
            {
                var buf = new char[n];
                await reader.ReadBlockAsync(buf, Ct);
                body.Append(buf);
                await reader.ReadLineAsync(Ct);
            }
        }
        var parts = status.Split(' ');
        return (parts.Length > 1 && int.TryParse(parts[1], out var code) ? code : 0, headers.GetValueOrDefault("Content-Type"), body.ToString());
    }

    /// <summary>The answer is listed for the operation, with that content type, and has every field its schema requires.</summary>
    private void Documented(string what, JsonObject op, int code, string? type, JsonNode? body)
    {
        var r = op["responses"]![code.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        Assert.True(r is not null, $"{what} answered {code}, which the document does not list ({body?.ToJsonString()})");
        if (r!["content"] is not JsonObject content) return;
        var media = type?.Split(';')[0];
        Assert.True(media is not null && content.ContainsKey(media), $"{what} answered {code} as {type}, not as documented ({string.Join(", ", content.Select(c => c.Key))})");
        if (body is not null) HasRequired(what, content[media!]!["schema"]!, body);
    }

    private void HasRequired(string what, JsonNode schema, JsonNode body)
    {
        if ((string?)schema["$ref"] is { } reference) schema = _doc["components"]!["schemas"]![reference.Split('/')[^1]]!;
        if (body is JsonArray a)
        {
            if (schema["items"] is { } items) foreach (var e in a.Take(3)) if (e is not null) HasRequired(what, items, e);
            return;
        }
        if (body is not JsonObject o) return;
        foreach (var field in schema["required"]?.AsArray() ?? [])
            Assert.True(o.ContainsKey((string)field!), $"{what}: the answer lacks '{field}', which its schema requires: {o.ToJsonString()}");
        foreach (var (name, value) in o)
            if (value is not null && schema["properties"]?[name] is { } sub) HasRequired(what, sub, value);
    }

    /// <summary>
    /// Path parameters by their meaning: reads name what exists (so their answers are checked against their schemas);
    /// changes name what does not exist (so nothing the other reads need is changed).
    /// </summary>
    private string Fill(string path, string method)
    {
        bool read = method == "get";
        var snapshot = path.Contains("/snapshots/", StringComparison.Ordinal);
        var pool = path.Contains("/pools/", StringComparison.Ordinal);
        string Value(string param) => param switch
        {
            "id" or "job_id" => read ? _jobId : Guid.NewGuid().ToString(),
            "iqn" => read ? LunHost.Wwn(1) : "iqn.2026-01.org.example:nosuch",
            "initiator" => "iqn.2026-01.org.example:nosuch",
            "lun" => "1",
            // Identity: the first start's project and user exist; changes name ones that do not.
            "project" or "user" => read ? "admin" : "nosuch",
            "role" => "member",
            _ when pool => read ? LunHost.Pool : "nosuch",
            _ when snapshot => read ? LunHost.Src : "tank/images/nosuch@1",
            _ => read ? "tank/images/golden" : "tank/nosuch",
        };
        var sb = new StringBuilder();
        foreach (var part in path.Split('/'))
        {
            if (sb.Length > 0 || part.Length > 0) sb.Append('/');
            sb.Append(part.StartsWith('{') ? string.Join('/', Value(part.Trim('{', '}')).Split('/').Select(Uri.EscapeDataString)) : part);
        }
        return sb.ToString();
    }

    private async Task<(int Code, string? Type, string Text)> SendAsync(string method, string url, string? json)
    {
        using var req = new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), url);
        if (json is not null) req.Content = new StringContent(json, Encoding.UTF8, "application/json");
        else if (method is "post" or "put" or "patch" or "delete") req.Content = new ByteArrayContent([]);
        using var resp = await _h.Http.SendAsync(req, Ct);
        var text = resp.Content.Headers.ContentType?.MediaType?.StartsWith("application/json", StringComparison.Ordinal) == true
            ? await resp.Content.ReadAsStringAsync(Ct) : "";
        return ((int)resp.StatusCode, resp.Content.Headers.ContentType?.ToString(), text);
    }
}
