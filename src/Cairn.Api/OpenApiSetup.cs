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
            // Answers no handler gives but the server does, in the API's error body (the one of its 500): 405 for a method
            // the path does not have (ApiErrorMiddleware names the allowed ones), 413 for a body over the server's limit.
            o.AddOperationTransformer((op, ctx, _) =>
            {
                if (op.Responses?.TryGetValue("500", out var fault) != true || fault is null) return Task.CompletedTask;
                op.Responses.TryAdd("405", new OpenApiResponse
                {
                    Description = "The path exists, but not with this method (the message and the Allow header name the methods it has).",
                    Content = fault.Content,
                });
                if (op.RequestBody is not null && !ctx.Description.ActionDescriptor.EndpointMetadata.OfType<ApiMetadata.UnlimitedBody>().Any())
                    op.Responses.TryAdd("413", new OpenApiResponse { Description = "The request body is over the server's limit (64 MiB).", Content = fault.Content });
                return Task.CompletedTask;
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
