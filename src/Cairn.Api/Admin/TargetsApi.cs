using Cairn.Core;
using Cairn.Core.Services;
using Cairn.Core.State;

namespace Cairn.Api.Admin;

/// <summary>A LUN in requests: <c>volume</c> is <c>pool/v</c> or <c>pool/v@snap</c> (read-only).</summary>
public sealed record LunRequest(int? Lun, string? Volume);

/// <summary>POST /targets body. Secrets are write-only: never returned, never logged.</summary>
public sealed record CreateTargetRequest(
    string? Iqn,
    IReadOnlyList<LunRequest>? Luns,
    string? Volume,
    int? Lun,
    IReadOnlyList<string>? Initiators,
    string? ChapUser,
    string? ChapSecret,
    string? MutualUser,
    string? MutualSecret,
    string? Portal);

/// <summary>Initiator allow/deny body.</summary>
public sealed record InitiatorRequest(string? Initiator);

/// <summary>A target as the admin API shows it (no secrets).</summary>
public sealed record TargetDto(string Iqn, IReadOnlyList<TargetLunDto> Luns, IReadOnlyList<string> Initiators, string? ChapUser, string? MutualUser, string? Portal, DateTimeOffset Created, int Sessions)
{
    public static TargetDto From(TargetRecord t, int sessions) => new(t.Iqn,
        t.Luns.Select(l => new TargetLunDto(l.Lun, l.Snapshot is null ? l.Dataset : l.Dataset + "@" + l.Snapshot, l.Snapshot is not null)).ToList(),
        t.Initiators, t.Chap?.User, t.MutualChap?.User, t.Portal, t.Created, sessions);
}

/// <summary>A LUN in answers.</summary>
public sealed record TargetLunDto(int Lun, string Volume, bool ReadOnly);


/// <summary><c>/cairn/v1/targets</c>.</summary>
public static class TargetsApi
{
    public static IEndpointRouteBuilder MapCairnTargetsApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(AdminApi.Prefix + "/targets").WithTags("targets");

        g.MapGet("", (TargetService targets) =>
        {
            return Results.Json(targets.List().Select(t => TargetDto.From(t, targets.Sessions(t.Iqn).Count)), Json.Options);
        });

        g.MapPost("", async (HttpRequest req, TargetService targets, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateTargetRequest>(req, ct);
            var iqn = AdminParse.Required(body.Iqn, "iqn");
            var luns = new List<TargetLun>();
            if (body.Volume is not null) luns.Add(ParseLun(body.Lun ?? 0, body.Volume));
            foreach (var l in body.Luns ?? []) luns.Add(ParseLun(l.Lun ?? luns.Count, AdminParse.Required(l.Volume, "luns[].volume")));
            if (luns.Count == 0) throw CairnException.Invalid("'volume' (or 'luns') is required");
            var t = await targets.CreateAsync(new TargetSpec(iqn, luns, body.Initiators ?? [], body.ChapUser, body.ChapSecret, body.MutualUser, body.MutualSecret, body.Portal), ct);
            return Results.Json(TargetDto.From(t, 0), Json.Options, statusCode: StatusCodes.Status201Created);
        });

        g.MapGet("/{iqn}", (string iqn, TargetService targets) =>
        {
            var t = targets.Get(Iqn.Normalize(iqn, "target name")) ?? throw CairnException.NotFound($"target {iqn.ToLowerInvariant()} does not exist");
            return Results.Json(TargetDto.From(t, targets.Sessions(t.Iqn).Count), Json.Options);
        });

        g.MapDelete("/{iqn}", async (string iqn, TargetService targets, CancellationToken ct) =>
        {
            await targets.DeleteAsync(iqn, ct);
            return Results.NoContent();
        });

        g.MapPost("/{iqn}/initiators", async (string iqn, HttpRequest req, TargetService targets, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<InitiatorRequest>(req, ct);
            var t = await targets.SetInitiatorAsync(iqn, AdminParse.Required(body.Initiator, "initiator"), allow: true, ct);
            return Results.Json(TargetDto.From(t, 0), Json.Options);
        });

        g.MapDelete("/{iqn}/initiators/{initiator}", async (string iqn, string initiator, TargetService targets, CancellationToken ct) =>
        {
            var t = await targets.SetInitiatorAsync(iqn, initiator, allow: false, ct);
            return Results.Json(TargetDto.From(t, 0), Json.Options);
        });
        return app;
    }

    private static TargetLun ParseLun(int lun, string volume)
    {
        if (volume.Contains('@'))
        {
            var (ds, snap) = Names.ValidateSnapshot(volume);
            return new TargetLun(lun, ds, snap);
        }
        return new TargetLun(lun, Names.ValidateDataset(volume));
    }
}
