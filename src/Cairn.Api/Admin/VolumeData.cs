using Cairn.Core;
using Cairn.Core.Storage;
using Cairn.Core.Transfer;
using Microsoft.AspNetCore.Http.Features;

namespace Cairn.Api.Admin;

/// <summary>
/// Streams volume images in and out: <c>PUT /cairn/v1/volume-data/{name}</c> imports (creating the volume sized to
/// the image when absent), <c>GET</c> exports a volume or snapshot. Either side may use the sparse format
/// (<see cref="SparseStream"/>, holes and zero blocks not sent) or raw bytes. The work is <see cref="ImageTransfer"/>'s;
/// this only reads the request (and lets a server-side file be named only by a local peer allowed to read it).
/// </summary>
internal static class VolumeData
{
    private sealed record LocalFileRequest(string? Path);

    public static async Task<IResult> ImportAsync(string name, bool? parents, bool? sync, bool? force, HttpContext ctx, ImageTransfer images, CancellationToken ct)
    {
        Names.ValidateDataset(name);
        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
        var contentType = ctx.Request.ContentType ?? "";
        ImageSource source;
        if (contentType.StartsWith(SparseStream.LocalFileMediaType, StringComparison.OrdinalIgnoreCase))
        {
            if (!LocalPeer.MayReadServerFiles(ctx))
                throw new CairnException(ErrorKind.Forbidden,
                    "an import from a server-side file is only accepted on the server's Unix socket, from its own user or root; stream the image instead");
            var body = await Json.ReadAsync<LocalFileRequest>(ctx.Request, ct);
            source = new ImageSource.LocalFile(body.Path ?? "");
        }
        else if (contentType.StartsWith(SparseStream.MediaType, StringComparison.OrdinalIgnoreCase))
        {
            source = new ImageSource.Sparse(ctx.Request.BodyReader);
        }
        else
        {
            source = new ImageSource.Raw(ctx.Request.BodyReader, ctx.Request.ContentLength ?? throw CairnException.Invalid("a raw import needs a Content-Length"));
        }
        var r = await images.ImportAsync(name, source, parents ?? false, sync ?? false, force ?? false, ct);
        return Results.Json(new ImportAnswer(VolumeDto.From(r.Volume), r.ImageSize, r.Written, r.Created, r.Synced),
            Json.Options, statusCode: r.Created ? 201 : 200);
    }

    public static async Task ExportAsync(string name, HttpContext ctx, ImageTransfer images, CancellationToken ct)
    {
        using var dev = await images.OpenForExportAsync(name, ct);
        bool sparse = ctx.Request.Headers.Accept.Any(a => a?.Contains(SparseStream.MediaType, StringComparison.OrdinalIgnoreCase) == true);
        var resp = ctx.Response;
        if (sparse)
        {
            resp.ContentType = SparseStream.MediaType;
            await ImageTransfer.ExportSparseAsync(dev, resp.BodyWriter, ct);
        }
        else
        {
            resp.ContentType = "application/octet-stream";
            resp.ContentLength = dev.Size;
            await ImageTransfer.ExportRawAsync(dev, resp.BodyWriter, ct);
        }
    }
}
