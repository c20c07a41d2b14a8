using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Cairn.Core;

namespace Cairn.Api;

/// <summary>JSON helpers shared by the APIs: strict body reading with clear errors.</summary>
public static class Json
{
    /// <summary>snake_case, no nulls dropped, enums as snake_case strings.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        TypeInfoResolver = JsonTypeInfoResolver.Combine(CairnJsonContext.Default, new DefaultJsonTypeInfoResolver()),
    };

    /// <summary>Strict variant: unknown fields are errors.</summary>
    public static readonly JsonSerializerOptions Strict = new(Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>Reads a JSON object body; a clear InvalidArgument on anything else.</summary>
    public static async Task<JsonObject> ReadObjectAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength == 0) throw CairnException.Invalid("request body is empty; a JSON object was expected");
        JsonNode? node;
        try
        {
            node = await JsonNode.ParseAsync(request.Body, cancellationToken: ct);
        }
        catch (JsonException ex)
        {
            throw CairnException.Invalid($"request body is not valid JSON: {ex.Message.Split('.')[0]}");
        }
        return node as JsonObject ?? throw CairnException.Invalid("request body must be a JSON object");
    }

    /// <summary>Reads a body into <typeparamref name="T"/> with unknown fields reported.</summary>
    public static async Task<T> ReadAsync<T>(HttpRequest request, CancellationToken ct)
    {
        var obj = await ReadObjectAsync(request, ct);
        try
        {
            return obj.Deserialize<T>(Strict) ?? throw CairnException.Invalid("request body is empty");
        }
        catch (JsonException ex)
        {
            throw CairnException.Invalid(ex.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? "unknown field in request: " + ex.Message.Split('\'').ElementAtOrDefault(1)
                : $"invalid request body: {ex.Message.Split(". Path", 2)[0]}");
        }
    }

    /// <summary>Reads a boolean the lenient way old clients send it: true/false, 1/0, "true"/"false"/"1"/"0".</summary>
    public static bool? Flag(JsonNode? node, string field) => LenientJson.Flag(node, field);
}
