using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Cairn.Api;

/// <summary>
/// The OpenAPI document at <c>/openapi/v1.json</c>: every operation with its id, tags, request body, success answer
/// and error answers (see <see cref="ApiMetadata"/>). The loosely typed fields old clients rely on (sizes as numbers or
/// strings, flags as booleans, numbers or strings) are described as the union they accept.
/// </summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddCairnOpenApi(this IServiceCollection s)
    {
        s.AddOpenApi(o =>
        {
            // Free-form JSON stays inline, so that each field's own description below is its own (a shared component
            // would take the last one).
            o.CreateSchemaReferenceId = t => (Nullable.GetUnderlyingType(t.Type) ?? t.Type) is var type
                && (type == typeof(System.Text.Json.JsonElement) || typeof(System.Text.Json.Nodes.JsonNode).IsAssignableFrom(type))
                ? null : OpenApiOptions.CreateDefaultSchemaReferenceId(t);
            o.AddDocumentTransformer((doc, _, _) =>
            {
                doc.Info.Title = "Cairn";
                doc.Info.Description = "The admin API (/cairn/v1: pools, volumes, snapshots, clones, images, batch jobs, targets) and the LUN clone API (/lun/api/v1.0).";
                return Task.CompletedTask;
            });
            // An import names a server-side file in a small JSON body of its own media type (one Accepts per endpoint).
            o.AddOperationTransformer(async (op, ctx, ct) =>
            {
                if (op.OperationId == "ImportVolume" && op.RequestBody?.Content?.TryGetValue(Core.Storage.SparseStream.LocalFileMediaType, out var media) == true
                    && media is OpenApiMediaType m)
                    m.Schema = await ctx.GetOrCreateSchemaAsync(typeof(LocalFileImport), null, ct);
            });
            o.AddSchemaTransformer((schema, ctx, _) =>
            {
                if (ctx.JsonPropertyInfo is { } p) Describe(schema, p);
                return Task.CompletedTask;
            });
        });
        return s;
    }

    private static void Describe(OpenApiSchema schema, JsonPropertyInfo p)
    {
        var attrs = p.AttributeProvider;
        if (attrs is null) return;
        if (attrs.IsDefined(typeof(SizeFieldAttribute), false))
        {
            schema.OneOf = null;
            schema.Type = JsonSchemaType.Integer | JsonSchemaType.String;
            schema.Description = "Bytes, or a string with a binary unit (\"10G\" = 10 GiB); a multiple of 512.";
        }
        else if (attrs.IsDefined(typeof(FlagFieldAttribute), false))
        {
            schema.OneOf = null;
            schema.Type = JsonSchemaType.Boolean | JsonSchemaType.Integer | JsonSchemaType.String;
            schema.Description = "true/false, 1/0, or \"true\"/\"false\"/\"1\"/\"0\".";
        }
    }
}
