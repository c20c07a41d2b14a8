using System.Globalization;
using System.Text.Json;

namespace Cairn.Api.Installer;

/// <summary>An installer API failure: its ret_code, the HTTP status it is answered with, and what to fix.</summary>
public sealed class InstallerException(int retCode, int httpStatus, string message) : Exception(message)
{
    public int RetCode { get; } = retCode;
    public int HttpStatus { get; } = httpStatus;

    public static InstallerException BadRequest(string message) => new(RetCodes.BadRequest, 400, message);
    public static InstallerException Invalid(string message) => new(RetCodes.InvalidParameter, 400, message);
}

/// <summary>The ret_code values (docs/api/installer.md). 0 is success.</summary>
public static class RetCodes
{
    public const int Ok = 0;
    /// <summary>The request itself: malformed JSON, no action, unknown action, a body that is not an object.</summary>
    public const int BadRequest = 1100;
    /// <summary>A parameter is missing or wrong (the message lists every problem).</summary>
    public const int InvalidParameter = 1400;
    /// <summary>USER_ID/PASSWORD missing or wrong.</summary>
    public const int AuthFailed = 1200;
    /// <summary>Too many failed authentications from this user or peer; retry later.</summary>
    public const int TooManyFailures = 1201;
    /// <summary>The connection is neither loopback, the Unix socket nor TLS.</summary>
    public const int InsecureTransport = 1300;
    /// <summary>A job or node that does not exist.</summary>
    public const int NotFound = 2100;
    /// <summary>The platform is not in a state that allows the action (e.g. DeployQingStor before a successful configuration).</summary>
    public const int Conflict = 2400;
    /// <summary>An action this server knows but does not implement yet.</summary>
    public const int NotImplemented = 5100;
    /// <summary>An unexpected server error (the server log has the detail).</summary>
    public const int Internal = 5000;
}

/// <summary>
/// Reads a request into one JSON object, whatever it came as: a JSON body (<c>application/json</c> or any body starting
/// with <c>{</c>), a form body (<c>application/x-www-form-urlencoded</c>) or the query string (QingCloud style). In
/// the form and query shapes a value that starts with <c>{</c> or <c>[</c> is parsed as JSON, a dotted key builds
/// nested objects (<c>qs_conf.zone_id=z</c>), a numeric segment builds an array in index order (<c>nodes.1=a&amp;nodes.2=b</c>,
/// any base), and a repeated key builds an array. Scalars stay strings; the typed readers accept "3" and "true".
/// </summary>
public static class InstallerRequest
{
    /// <summary>Largest body accepted.</summary>
    public const int MaxBody = 1 << 20;

    public static async Task<JsonObject> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        var result = new JsonObject();
        if (request.QueryString.HasValue)
            Merge(result, request.Query.SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string>(q.Key, v ?? ""))));
        if (request.ContentLength is > MaxBody) throw InstallerException.BadRequest($"request body over {MaxBody} bytes");
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            await buffer.WriteAsync(chunk.AsMemory(0, n), ct);
            if (buffer.Length > MaxBody) throw InstallerException.BadRequest($"request body over {MaxBody} bytes");
        }
        var body = System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length).Trim();
        if (body.Length == 0) return result;
        var type = request.ContentType ?? "";
        if (type.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) && !body.StartsWith('{'))
        {
            Merge(result, ParseForm(body));
            return result;
        }
        foreach (var (k, v) in ParseJson(body)) result[k] = v?.DeepClone();
        return result;
    }

    /// <summary>A JSON body as an object, or a clear error: where it is malformed.</summary>
    public static JsonObject ParseJson(string body)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw InstallerException.BadRequest($"the body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): " +
                "send a JSON object such as {\"action\":\"DescribeQingStor\"}, or form fields action=...");
        }
        return node as JsonObject ?? throw InstallerException.BadRequest("the body must be a JSON object with an \"action\" field");
    }

    public static IEnumerable<KeyValuePair<string, string>> ParseForm(string body) =>
        body.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(pair =>
        {
            var eq = pair.IndexOf('=');
            var k = eq < 0 ? pair : pair[..eq];
            var v = eq < 0 ? "" : pair[(eq + 1)..];
            return new KeyValuePair<string, string>(Uri.UnescapeDataString(k.Replace('+', ' ')), Uri.UnescapeDataString(v.Replace('+', ' ')));
        });

    /// <summary>Adds flat key/value pairs (form or query) to <paramref name="target"/> as nested JSON.</summary>
    public static void Merge(JsonObject target, IEnumerable<KeyValuePair<string, string>> pairs)
    {
        // Collected first as a tree of dictionaries, so numeric segments can become arrays in index order at the end.
        var root = new Tree();
        foreach (var (key, raw) in pairs)
        {
            if (key.Length == 0) continue;
            var segments = key.Split('.');
            if (segments.Any(s => s.Length == 0)) throw InstallerException.BadRequest($"parameter '{key}': empty segment in a dotted key");
            var node = root;
            foreach (var seg in segments[..^1]) node = node.Child(seg, key);
            node.Add(segments[^1], Value(raw, key), key);
        }
        foreach (var (k, v) in root.Children) target[k] = v.ToJson();
    }

    private static JsonNode? Value(string raw, string key)
    {
        var t = raw.Trim();
        if (t.StartsWith('{') || t.StartsWith('['))
        {
            try { return JsonNode.Parse(t); }
            catch (JsonException) { throw InstallerException.BadRequest($"parameter '{key}': starts like JSON but is not valid JSON"); }
        }
        return JsonValue.Create(raw);
    }

    private sealed class Tree
    {
        public readonly SortedDictionary<string, Tree> Children = new(StringComparer.Ordinal);
        public readonly Dictionary<string, Tree> Order = [];
        public List<JsonNode?>? Values;

        public Tree Child(string seg, string key)
        {
            if (!Children.TryGetValue(seg, out var c)) Children[seg] = c = new Tree();
            else if (c.Values is not null) throw InstallerException.BadRequest($"parameter '{key}': '{seg}' is both a value and an object");
            return c;
        }

        public void Add(string seg, JsonNode? value, string key)
        {
            if (!Children.TryGetValue(seg, out var c)) Children[seg] = c = new Tree();
            if (c.Children.Count > 0) throw InstallerException.BadRequest($"parameter '{key}': '{seg}' is both a value and an object");
            (c.Values ??= []).Add(value);
        }

        public JsonNode? ToJson()
        {
            if (Values is not null) return Values.Count == 1 ? Values[0] : new JsonArray([.. Values]);
            if (Children.Count > 0 && Children.Keys.All(k => k.All(char.IsAsciiDigit) && k.Length < 9))
                return new JsonArray([.. Children.OrderBy(c => int.Parse(c.Key, CultureInfo.InvariantCulture)).Select(c => c.Value.ToJson())]);
            var o = new JsonObject();
            foreach (var (k, v) in Children) o[k] = v.ToJson();
            return o;
        }
    }
}

/// <summary>Lenient typed reads of request fields: numbers and booleans may arrive as strings (form and query bodies).</summary>
public static class Field
{
    public static string? Str(JsonNode? n) => n switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v => v.ToJsonString(),
        _ => null,
    };

    public static long? Number(JsonNode? n) => n switch
    {
        JsonValue v when v.TryGetValue<long>(out var l) => l,
        JsonValue v when v.TryGetValue<int>(out var i) => i,
        JsonValue v when v.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
        JsonValue v when v.TryGetValue<string>(out var s) && long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
        _ => null,
    };

    public static bool? Bool(JsonNode? n) => n switch
    {
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        JsonValue v when v.TryGetValue<long>(out var l) && l is 0 or 1 => l == 1,
        JsonValue v when v.TryGetValue<string>(out var s) => s.Trim().ToLowerInvariant() switch { "true" or "1" or "yes" => true, "false" or "0" or "no" => false, _ => null },
        _ => null,
    };

    /// <summary>A list field: a JSON array, or one comma-separated string ("sdb,sdc").</summary>
    public static List<JsonNode?>? List(JsonNode? n) => n switch
    {
        JsonArray a => [.. a],
        JsonValue v when v.TryGetValue<string>(out var s) => [.. s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => (JsonNode?)JsonValue.Create(x))],
        _ => null,
    };

    /// <summary>A node id given as a string or as <c>{"node_id": …}</c>.</summary>
    public static string? NodeId(JsonNode? n) => n is JsonObject o ? Str(o["node_id"]) : Str(n);
}
