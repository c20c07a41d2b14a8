using System.Globalization;
using System.Text.Json;

namespace Cairn.Api.BlockStorage.Http;

/// <summary>Reading Cinder request bodies and values the way Cinder validates them (its messages, its codes).</summary>
public static class CinderBody
{
    /// <summary>Cinder's <c>osapi_max_request_body_size</c>: 112 KiB.</summary>
    public const int MaxBody = 114688;

    private static readonly JsonDocumentOptions Document = new() { AllowDuplicateProperties = false, MaxDepth = 32 };

    /// <summary>The body as a JSON object: 415 for another content type, 413 when too large, 400 when malformed.</summary>
    public static async Task<JsonObject> ReadAsync(HttpRequest req, CancellationToken ct)
    {
        var type = req.ContentType;
        if (type is not null && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new CinderError(415, $"Unsupported Content-Type: {type}");
        if (req.ContentLength > MaxBody) throw CinderError.OverLimit("Request is too large.");
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int n;
        while ((n = await req.Body.ReadAsync(chunk, ct)) > 0)
        {
            await buffer.WriteAsync(chunk.AsMemory(0, n), ct);
            if (buffer.Length > MaxBody) throw CinderError.OverLimit("Request is too large.");
        }
        if (buffer.Length == 0) throw CinderError.BadRequest("Malformed request body: the body is empty; a JSON object was expected.");
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(buffer.ToArray(), documentOptions: Document);
        }
        catch (JsonException)
        {
            throw CinderError.BadRequest("Malformed request body");
        }
        return node as JsonObject ?? throw CinderError.BadRequest("Malformed request body: a JSON object was expected.");
    }

    /// <summary>The object under <paramref name="key"/> (Cinder bodies wrap their entity: <c>{"volume": {…}}</c>).</summary>
    public static JsonObject Entity(JsonObject body, string key) =>
        body[key] as JsonObject ?? throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {Show(body[key])}. '{key}' is a required property and must be an object.");

    public static string Show(JsonNode? n) => n is null ? "None" : n.ToJsonString();

    /// <summary>A string field (null when absent or null); 400 for another type or longer than 255.</summary>
    public static string? Text(JsonObject o, string key, int max = 255)
    {
        var n = o[key];
        if (n is null) return null;
        if (n is not JsonValue v || !v.TryGetValue<string>(out var s))
            throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {Show(n)}. {Show(n)} is not of type 'string', 'null'");
        if (s.Length > max) throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {s}. '{s}' is too long");
        return s;
    }

    /// <summary>Cinder's size rule (an integer, or a string of one, at least 1): its messages for the rest.</summary>
    public static int? Size(JsonObject o, string key, bool required)
    {
        var n = o[key];
        if (n is null)
            return required ? throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: None. None is not of type 'integer', 'string'") : null;
        long value;
        if (n is JsonValue v && v.TryGetValue<long>(out var l)) value = l;
        else if (n is JsonValue s && s.TryGetValue<string>(out var text) && long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var p)) value = p;
        else if (n is JsonValue d && d.TryGetValue<double>(out var f) && f == Math.Floor(f) && Math.Abs(f) < int.MaxValue) value = (long)f;
        else throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {Show(n)}. {Show(n)} is not a valid integer: size must be an integer (and a string of one) greater than 0.");
        if (value < 1) throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {value}. {value} is less than the minimum of 1");
        if (value > int.MaxValue) throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {value}. {value} is greater than the maximum of {int.MaxValue}");
        return (int)value;
    }

    /// <summary>Cinder's boolean strings ("true", "yes", "1", "on" and their opposites) and JSON booleans.</summary>
    public static bool? Bool(JsonNode? n, string key)
    {
        if (n is null) return null;
        if (n is JsonValue v && v.TryGetValue<bool>(out var b)) return b;
        if (n is JsonValue s && s.TryGetValue<string>(out var text)) return ParseBool(text, key);
        throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {Show(n)}. {Show(n)} is not of type 'boolean', 'string'");
    }

    public static bool ParseBool(string text, string key) => text.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "y" or "on" or "t" => true,
        "false" or "0" or "no" or "n" or "off" or "f" => false,
        _ => throw CinderError.BadRequest($"Invalid input received: {key} must be a boolean (true or false), got '{text}'."),
    };

    /// <summary>Cinder's metadata rule: an object of strings; keys 1–255 characters, values at most 255.</summary>
    public static JsonObject Metadata(JsonNode? n, string key = "metadata")
    {
        if (n is null) return [];
        if (n is not JsonObject o) throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {Show(n)}. {Show(n)} is not of type 'object'");
        var result = new JsonObject();
        foreach (var (k, v) in o)
        {
            if (k.Length is 0 or > 255) throw CinderError.BadRequest($"Invalid input for field/attribute {key}. Value: {Show(n)}. Metadata keys must be 1 to 255 characters.");
            if (v is not JsonValue jv || !jv.TryGetValue<string>(out var s))
                throw CinderError.BadRequest($"Invalid input for field/attribute {k}. Value: {Show(v)}. {Show(v)} is not of type 'string'");
            if (s.Length > 255) throw CinderError.BadRequest($"Invalid input for field/attribute {k}. Value: {s}. Metadata values must be at most 255 characters.");
            result[k] = s;
        }
        return result;
    }

    /// <summary>A UUID in a body or URL; 404 names the thing when it cannot be one (Cinder looks it up and finds nothing).</summary>
    public static Guid Id(string? text, string what) =>
        Guid.TryParse(text, out var g) ? g : throw CinderError.NotFound($"{what} {text} could not be found.");
}
