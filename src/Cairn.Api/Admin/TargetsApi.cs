using Cairn.Core;
using Cairn.Core.Services;
using Cairn.Core.State;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cairn.Api.Admin;

/// <summary>Builds target answers from records.</summary>
public static class TargetDtos
{
    extension(TargetDto)
    {
        public static TargetDto From(TargetRecord t, int sessions) => new(t.Iqn,
            t.Luns.Select(l => new TargetLunDto(l.Lun, l.Snapshot is null ? l.Dataset : l.Dataset + "@" + l.Snapshot, l.IsReadOnly)).ToList(),
            t.Initiators, t.Chap?.User, t.MutualChap?.User, t.Portal, t.Created, sessions);
    }
}

/// <summary><c>/cairn/v1/targets</c>.</summary>
public static class TargetsApi
{
    public static IEndpointRouteBuilder MapCairnTargetsApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(AdminApi.Prefix + "/targets").WithTags("targets");
        const int B = StatusCodes.Status400BadRequest, N = StatusCodes.Status404NotFound, C = StatusCodes.Status409Conflict;

        g.MapGet("", Ok<TargetDto[]> (TargetService targets) =>
            TypedResults.Ok(targets.List().Select(t => TargetDto.From(t, targets.Sessions(t.Iqn).Count)).ToArray()))
            .Operation("ListTargets", "List targets (never their secrets)").AdminErrors();

        g.MapPost("", async Task<Created<TargetDto>> (HttpRequest req, TargetService targets, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateTargetRequest>(req, ct);
            var iqn = AdminParse.Required(body.Iqn, "iqn");
            var luns = new List<TargetLun>();
            if (body.Volume is not null) luns.Add(ParseLun(body.Lun ?? 0, body.Volume, false));
            foreach (var l in body.Luns ?? []) luns.Add(ParseLun(l.Lun ?? luns.Count, AdminParse.Required(l.Volume, "luns[].volume"), l.ReadOnly ?? false));
            if (luns.Count == 0) throw CairnException.Invalid("'volume' (or 'luns') is required");
            var t = await targets.CreateAsync(new TargetSpec(iqn, luns, body.Initiators ?? [], body.ChapUser, body.ChapSecret, body.MutualUser, body.MutualSecret, body.Portal, body.Shared ?? false), ct);
            return TypedResults.Created((string?)null, TargetDto.From(t, 0));
        }).Accepts<CreateTargetRequest>("application/json")
            .Operation("CreateTarget", "Create an iSCSI target: LUNs, allowed initiators, CHAP").AdminErrors(B, N, C);

        g.MapGet("/{iqn}", Ok<TargetDto> (string iqn, TargetService targets) =>
        {
            var t = targets.Get(Iqn.Normalize(iqn, "target name")) ?? throw CairnException.NotFound($"target {iqn.ToLowerInvariant()} does not exist");
            return TypedResults.Ok(TargetDto.From(t, targets.Sessions(t.Iqn).Count));
        }).Operation("GetTarget", "Show one target").AdminErrors(B, N);

        g.MapDelete("/{iqn}", async Task<NoContent> (string iqn, TargetService targets, CancellationToken ct) =>
        {
            await targets.DeleteAsync(iqn, ct);
            return TypedResults.NoContent();
        }).Operation("DeleteTarget", "Delete a target; its live sessions are ended").AdminErrors(B, N, C);

        g.MapPost("/{iqn}/initiators", async Task<Ok<TargetDto>> (string iqn, HttpRequest req, TargetService targets, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<InitiatorRequest>(req, ct);
            var t = await targets.SetInitiatorAsync(iqn, AdminParse.Required(body.Initiator, "initiator"), allow: true, ct);
            return TypedResults.Ok(TargetDto.From(t, 0));
        }).Accepts<InitiatorRequest>("application/json")
            .Operation("AllowInitiator", "Allow an initiator to log in").AdminErrors(B, N, C);

        g.MapDelete("/{iqn}/initiators/{initiator}", async Task<Ok<TargetDto>> (string iqn, string initiator, TargetService targets, CancellationToken ct) =>
        {
            var t = await targets.SetInitiatorAsync(iqn, initiator, allow: false, ct);
            return TypedResults.Ok(TargetDto.From(t, 0));
        }).Operation("DenyInitiator", "Remove an initiator; its sessions are ended").AdminErrors(B, N, C);

        g.MapGet("/{iqn}/sessions", Ok<SessionDto[]> (string iqn, TargetService targets) =>
        {
            var t = targets.Get(Iqn.Normalize(iqn, "target name")) ?? throw CairnException.NotFound($"target {iqn.ToLowerInvariant()} does not exist");
            return TypedResults.Ok(targets.Sessions(t.Iqn).Select(s => new SessionDto(t.Iqn, s.Initiator, s.Address)).ToArray());
        }).Operation("ListSessions", "List a target's live sessions (initiator and address)").AdminErrors(B, N);

        g.MapDelete("/{iqn}/sessions", async Task<Ok<SessionsEnded>> (string iqn, string? initiator, TargetService targets, CancellationToken ct) =>
        {
            var n = await targets.EndSessionsAsync(iqn, initiator, ct);
            return TypedResults.Ok(new SessionsEnded(Iqn.Normalize(iqn, "target name"), n));
        }).Operation("EndSessions", "End a target's live sessions (only ?initiator=IQN's when given); the initiators may log in again").AdminErrors(B, N);

        g.MapPost("/{iqn}/luns", async Task<Ok<TargetDto>> (string iqn, HttpRequest req, TargetService targets, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<AddLunRequest>(req, ct);
            var lun = ParseLun(body.Lun ?? 0, AdminParse.Required(body.Volume, "volume"), body.ReadOnly ?? false);
            if (body.Lun is < 0 or > TargetService.MaxLun) throw CairnException.Invalid($"lun: {body.Lun} is out of range (0-{TargetService.MaxLun})");
            var t = await targets.AddLunAsync(iqn, body.Lun, lun.Dataset, lun.Snapshot, body.Shared ?? false, lun.ReadOnly, ct);
            return TypedResults.Ok(TargetDto.From(t, targets.Sessions(t.Iqn).Count));
        }).Accepts<AddLunRequest>("application/json")
            .Operation("AddLun", "Map one more volume or snapshot as a LUN of a target").AdminErrors(B, N, C);

        g.MapDelete("/{iqn}/luns/{lun}", async Task<Ok<TargetDto>> (string iqn, string lun, TargetService targets, CancellationToken ct) =>
        {
            if (!int.TryParse(lun, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
                throw CairnException.Invalid($"lun: '{lun}' is not a LUN number");
            var t = await targets.RemoveLunAsync(iqn, n, ct);
            return TypedResults.Ok(TargetDto.From(t, targets.Sessions(t.Iqn).Count));
        }).Operation("RemoveLun", "Unmap a LUN of a target (not its last one)").AdminErrors(B, N, C);
        return app;
    }

    private static TargetLun ParseLun(int lun, string volume, bool readOnly)
    {
        if (volume.Contains('@'))
        {
            var (ds, snap) = Names.ValidateSnapshot(volume);
            return new TargetLun(lun, ds, snap);
        }
        return new TargetLun(lun, Names.ValidateDataset(volume), ReadOnly: readOnly);
    }
}
