using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Cairn.Api.Tests.Errors;

/// <summary>
/// Every error answer, also those ASP.NET Core gives itself (unknown path, wrong method, a query parameter that does not
/// bind, a body over the limit), has its API's error body and names what is wrong, against a real started server.
/// </summary>
public sealed class ApiErrorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("GET", "/cairn/v1/nothing", 404, "not_found", "no such endpoint: GET /cairn/v1/nothing")]
    [InlineData("PUT", "/cairn/v1/volumes", 405, "method_not_allowed", "PUT is not allowed on /cairn/v1/volumes")]
    [InlineData("GET", "/cairn/v1/jobs?limit=abc", 400, "invalid_argument", "limit: 'abc' is not a whole number")]
    [InlineData("GET", "/cairn/v1/jobs?limit=-1", 400, "invalid_argument", "limit: -1 is not between 1 and 10000")]
    [InlineData("GET", "/cairn/v1/jobs?limit=0", 400, "invalid_argument", "limit: 0 is not between 1 and 10000")]
    [InlineData("DELETE", "/cairn/v1/volumes/tank/x?recursive=maybe", 400, "invalid_argument", "recursive: 'maybe' is not true or false")]
    [InlineData("GET", "/nothing", 404, "not_found", "no such endpoint: GET /nothing")]
    public async Task Admin_errors_have_the_admin_body_with_code_and_reason(string method, string path, int status, string code, string message)
    {
        await using var h = await ApiHost.StartAsync();
        var (c, type, body, text) = await h.SendAsync(method, path);
        Assert.Equal(status, (int)c);
        Assert.Equal("application/json", type);
        Assert.True(body?["error"] is JsonObject, text);
        Assert.Equal(code, (string)body!["error"]!["code"]!);
        Assert.Contains(message, (string)body["error"]!["message"]!, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "/lun/api/v1.0/nothing", 404, "no such endpoint: GET /lun/api/v1.0/nothing")]
    [InlineData("PUT", "/lun/api/v1.0/clone", 405, "PUT is not allowed on /lun/api/v1.0/clone")]
    [InlineData("GET", "/lun/api/v1.0/clone_status/x?items=maybe", 400, "items")]
    [InlineData("POST", "/lun/api/v1.0/clone_status/x", 405, "POST is not allowed")]
    public async Task Lun_errors_have_the_lun_body(string method, string path, int status, string reason)
    {
        await using var h = await ApiHost.StartAsync();
        var (c, type, body, text) = await h.SendAsync(method, path);
        Assert.Equal(status, (int)c);
        Assert.Equal("application/json", type);
        Assert.Equal("error", (string?)body?["status"]);
        Assert.Contains(reason, (string)body!["reason"]!, StringComparison.Ordinal);
        Assert.Equal(2, body.AsObject().Count);
        Assert.DoesNotContain("\"error\":{", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/cairn/v1/volumes", """{"name":5,"size":"1M"}""", "name: expected a string")]
    [InlineData("/cairn/v1/volumes", """{"name":"tank/a","size":true}""", "size: expected a string or number")]
    [InlineData("/cairn/v1/volumes", """{"name":"tank/a","size":[1]}""", "size: expected a string or number")]
    [InlineData("/cairn/v1/volumes", """{"name":"tank/a","size":"1M","parents":"yes"}""", "parents: expected true or false")]
    [InlineData("/cairn/v1/volumes", """{"name":"tank/a","size":"1M","size":"2M"}""", "size: given more than once")]
    [InlineData("/cairn/v1/volumes", """{"name":"tank/a","size":"1M","colour":"red"}""", "unknown field in request: colour")]
    [InlineData("/cairn/v1/targets", """{"iqn":"iqn.2020-01.org.example:a","luns":[{"lun":"x","volume":"tank/a"}]}""", "luns[0].lun: expected a whole number")]
    [InlineData("/cairn/v1/targets", """{"iqn":"iqn.2020-01.org.example:a","luns":{"lun":1}}""", "luns: expected an array")]
    [InlineData("/cairn/v1/batch", """{"ops":[{"op":"create","name":5,"size":"1M"}]}""", "ops[0]: name: expected a string")]
    [InlineData("/cairn/v1/batch", """{"ops":[{"op":"create","name":"tank/a","size":{}}]}""", "ops[0]: size: expected a string or number")]
    [InlineData("/cairn/v1/batch", """{"ops":[{"op":"create","name":"tank/a","size":"1M","name":"tank/b"}]}""", "ops[0].name: given more than once")]
    [InlineData("/cairn/v1/batch", """{"ops":[{"op":"create","name":"tank/a","size":"1M"},{"op":"create","name":"tank/b","size":"1M","size":"2M"}]}""", "ops[1].size: given more than once")]
    [InlineData("/cairn/v1/volumes", """{"name":"tank/a","size":"1M","name":"tank/b"}""", "name: given more than once in the request body")]
    public async Task Bad_admin_bodies_are_400_naming_the_field_never_a_type(string path, string json, string message)
    {
        await using var h = await ApiHost.StartAsync();
        var (c, _, body, text) = await h.SendAsync("POST", path, json);
        Assert.Equal(HttpStatusCode.BadRequest, c);
        var m = (string)body!["error"]!["message"]!;
        Assert.Contains(message, m, StringComparison.Ordinal);
        Assert.DoesNotContain("Cairn.", m, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", m, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", "/cairn/v1/volumes/tank/a")).Code);
        Assert.Empty(h.Jobs.List());
        Assert.DoesNotContain("Exception", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_duplicate_key_in_a_lun_request_is_400_in_the_lun_shape()
    {
        await using var h = await ApiHost.StartAsync();
        var (c, _, body, _) = await h.SendAsync("POST", "/lun/api/v1.0/clone", """{"clones":[],"clones":[]}""");
        Assert.Equal(HttpStatusCode.BadRequest, c);
        Assert.Equal("error", (string)body!["status"]!);
        Assert.Contains("clones: given more than once", (string)body["reason"]!, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/cairn/v1/volumes")]
    [InlineData("/lun/api/v1.0/clone")]
    public async Task A_body_over_the_limit_is_413_in_the_apis_shape(string path)
    {
        await using var h = await ApiHost.StartAsync();
        // Over a raw connection: the server answers as soon as it sees the length, and an HTTP client still sending the
        // rest of a 64 MiB body would only see the connection closed under it.
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(h.Http.BaseAddress!.Host, h.Http.BaseAddress.Port, Ct);
        await using var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {(64 << 20) + 16}\r\n\r\n{{\"clones\":["), Ct);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var status = await reader.ReadLineAsync(Ct);
        Assert.StartsWith("HTTP/1.1 413", status, StringComparison.Ordinal);
        string? line;
        while ((line = await reader.ReadLineAsync(Ct)) is { Length: > 0 }) { } // headers
        var json = line is null ? "" : await ReadBodyAsync(reader);
        var body = JsonNode.Parse(json)!;
        var reason = path.StartsWith("/lun", StringComparison.Ordinal) ? (string)body["reason"]! : (string)body["error"]!["message"]!;
        if (!path.StartsWith("/lun", StringComparison.Ordinal)) Assert.Equal("too_large", (string)body["error"]!["code"]!);
        Assert.Contains("too large", reason, StringComparison.Ordinal);
    }

    /// <summary>The body of a chunked answer (hex size line, data, …, 0) or of one with a length.</summary>
    private static async Task<string> ReadBodyAsync(StreamReader reader)
    {
        var sb = new StringBuilder();
        while (await reader.ReadLineAsync(Ct) is { } size && size.Length > 0)
        {
            if (!int.TryParse(size, System.Globalization.NumberStyles.HexNumber, null, out var n)) return size; // not chunked: the body itself
            if (n == 0) break;
            var buf = new char[n];
            await reader.ReadBlockAsync(buf, Ct);
            sb.Append(buf);
            await reader.ReadLineAsync(Ct);
        }
        return sb.ToString();
    }

    [Fact]
    public async Task Head_healthz_and_metrics_answer_200()
    {
        await using var h = await ApiHost.StartAsync();
        foreach (var path in new[] { "/healthz", "/metrics" })
        {
            using var req = new HttpRequestMessage(HttpMethod.Head, path);
            using var resp = await h.Http.SendAsync(req, Ct);
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        }
    }

    [Fact]
    public async Task Pool_dataset_and_snapshot_counts_match_the_lists_and_the_metrics()
    {
        await using var h = await ApiHost.StartAsync("tank,other,empty");
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/volumes", """{"name":"tank/f/a","size":"1M","parents":true}""")).Code);
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/folders", """{"name":"tank/g"}""")).Code);
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/snapshots", """{"name":"tank/f/a@s"}""")).Code);
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/clones", """{"source":"tank/f/a@s","target":"tank/c"}""")).Code);
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/volumes", """{"name":"other/v","size":"1M"}""")).Code);

        var metrics = await h.Http.GetStringAsync("/metrics", Ct);
        foreach (var pool in new[] { "tank", "other", "empty" })
        {
            var p = (await h.SendAsync("GET", "/cairn/v1/pools/" + pool)).Body!;
            // An empty embedded pool has no root dataset yet: its listing is empty (or not found), and so are its counts.
            var listing = await h.SendAsync("GET", "/cairn/v1/volumes?root=" + pool);
            var rows = listing.Code == HttpStatusCode.OK ? listing.Body!.AsArray() : [];
            var snaps = (await h.SendAsync("GET", "/cairn/v1/snapshots")).Body!.AsArray()
                .Count(s => ((string)s!["volume"]!).Split('/')[0] == pool);
            // volumes and folders are the listing's rows by type (what `cairn pool list` shows); datasets is what is in the
            // pool, the pool's own folder row not counted.
            long Rows(string type) => rows.Count(r => (string)r!["type"]! == type);
            Assert.Equal(Rows("volume"), (long)p["volumes"]!);
            Assert.Equal(Rows("folder"), (long)p["folders"]!);
            Assert.Equal(rows.Count - (rows.Any(r => (string)r!["name"]! == pool) ? 1 : 0), (long)p["datasets"]!);
            Assert.Contains($"cairn_volumes{{pool=\"{pool}\"}} {Rows("volume")}\n", metrics, StringComparison.Ordinal);
            Assert.Contains($"cairn_folders{{pool=\"{pool}\"}} {Rows("folder")}\n", metrics, StringComparison.Ordinal);
            Assert.Equal(snaps, (long)p["snapshots"]!);
            Assert.Contains($"cairn_datasets{{pool=\"{pool}\"}} {(long)p["datasets"]!}\n", metrics, StringComparison.Ordinal);
            Assert.Contains($"cairn_snapshots{{pool=\"{pool}\"}} {snaps}\n", metrics, StringComparison.Ordinal);
        }
    }
}
