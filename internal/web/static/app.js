// fibremon public coverage page: the map of the consortium's comuni (a
// choropleth of GET api/v1/comuni's figures) and of each comune, drawn as
// SVG from GET api/v1/coverage.geojson — civics by area and zoom, in
// clusters where they are too many —, the figures per comune and hamlet,
// and the "is my address covered?" answer of GET api/v1/coverage. The URL
// carries the comune, the address (or point) and the view, so an answer
// can be linked; the back button walks them. No libraries, no network but
// the page's own origin (and the tile server when one is configured).
// Served by internal/web.
(function () {
  'use strict';

  // ---------------------------------------------------------------------
  // Every string the page shows, in Italian (default) and English.

  var MONTHS = {
    it: ['gennaio', 'febbraio', 'marzo', 'aprile', 'maggio', 'giugno', 'luglio', 'agosto', 'settembre', 'ottobre', 'novembre', 'dicembre'],
    en: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
  };

  var I18N = {
    it: {
      titleConsortium: 'fibremon — {0} comuni: copertura in fibra',
      titleComune: 'fibremon — {0}: copertura in fibra',
      subtitle: 'Il tuo indirizzo è coperto dalla fibra? Con quale tecnologia, da quando, e come vanno le linee vicine.',
      skipToSearch: "Vai alla ricerca dell'indirizzo",
      langToggle: 'English',
      langToggleLang: 'en',
      langToggleLabel: 'Switch to English',
      searchTitle: 'Verifica un indirizzo',
      searchLabel: 'Il tuo indirizzo',
      searchPlaceholder: 'Il tuo indirizzo (es. Via Roma 5)',
      searchButton: 'Verifica',
      searchHint: 'Oppure clicca un punto sulla mappa.',
      searchEmpty: 'Scrivi un indirizzo, per esempio «Via Roma 5».',
      answerTitle: 'Risposta',
      answerEmpty: 'Scrivi un indirizzo o clicca sulla mappa per sapere se è coperto.',
      loading: 'Ricerca in corso…',
      mapTitle: 'Mappa della copertura',
      mapLabel: 'Mappa di {0}. Trascina o usa le frecce per spostarla, rotella o +/− per ingrandire; clic, Invio o spazio su un punto per verificarne la copertura, su un gruppo di civici per ingrandirlo.',
      mapLabelConsortium: 'Mappa dei {0} comuni del consorzio, colorati per quota di unità servite. Clic, Invio o spazio su un comune per aprirlo.',
      mapHint: 'Trascina per spostare la mappa, rotella o pulsanti +/− per ingrandire; clicca un punto per verificarne la copertura, un gruppo di civici per ingrandirlo: i civici arrivano per area, uno per uno da vicino. Con la tastiera: Tab sui punti, Invio per verificarli, frecce e +/− per muovere la mappa.',
      mapHintConsortium: 'Clicca un comune (o Tab e Invio) per aprirlo: i suoi civici, le frazioni e i dati del rollout. Trascina per spostare la mappa, rotella o +/− per ingrandire.',
      mapLoading: 'Caricamento della mappa…',
      mapFailed: 'Mappa non disponibile: {0}',
      mapUpdated: 'Siti aggiornati alle {0}',
      layersTitle: 'Livelli',
      'layer.tiles': 'Sfondo cartografico',
      'layer.comune': 'Confine comunale',
      'layer.hamlets': 'Frazioni',
      'layer.white-areas': 'Aree bianche',
      'layer.addresses': 'Indirizzi (civici)',
      'layer.sites': 'Linee monitorate',
      layerUnavailable: '(non disponibile)',
      layerEmpty: '(nessun dato)',
      zoomIn: 'Ingrandisci',
      zoomOut: 'Riduci',
      zoomReset: 'Vista intera',
      legendTitle: 'Legenda',
      legendAddresses: 'Indirizzi, per classe di copertura',
      legendSites: 'Linee monitorate, per stato',
      legendOther: 'Altro',
      legendWhite: 'Area bianca (a fallimento di mercato)',
      legendComune: 'Confine comunale',
      legendHamlet: 'Centro di frazione',
      legendEstimated: 'Posizione stimata: il cerchio tratteggiato è l’incertezza',
      legendHighlight: 'Punto della risposta',
      syntheticBadge: 'dati sintetici',
      syntheticBadgeTitle: 'Alcuni elementi della mappa (il registro dei civici, alcuni siti) sono inventati a scopo dimostrativo.',
      footerNote: 'Dati dei siti e delle misure: fibremon. Alcuni dati (il registro dei civici, alcuni siti) sono sintetici, a scopo dimostrativo.',
      placeLabel: 'Comune',
      comuneLabel: 'Comune',
      allComuni: 'Tutti i comuni del consorzio',
      backToConsortium: '← Tutti i comuni',
      viewTabs: 'Vista',
      tabMap: 'Mappa',
      tabTable: 'Dati',
      measureLabel: 'Colora i comuni per',
      'measure.served_share': 'unità servite',
      'measure.ftth_ready_share': 'unità raggiunte in FTTH',
      searchScopeAll: function (n) { return 'Cerca in tutti i ' + n + ' comuni del consorzio (scrivi anche il comune: «Via Roma 5, Crema»).'; },
      searchScopeComune: function (name) { return 'Cerca a ' + name + '. Per cercare in tutti i comuni, torna a «Tutti i comuni».'; },
      layerInComune: '(scegli un comune)',
      legendChoropleth: function (m) { return 'Comuni, per quota di ' + m; },
      legendNoFigures: 'nessun dato',
      legendCluster: 'Gruppo di civici: colore della classe prevalente, numero di civici',
      legendWhiteCluster: 'Gruppo di civici in area bianca',
      unknownComune: function (k) { return 'Comune sconosciuto: «' + k + '». Ecco tutti i comuni del consorzio.'; },
      scopeConsortium: function (n, civics, served, ftth, left) { return n + ' comuni · ' + civics + ' civici · unità servite ' + served + ' · in FTTH ' + ftth + ' · unità in aree bianche ancora da servire: ' + left; },
      scopeComune: function (name, civics, served, ftth, left) { return name + ': ' + civics + ' civici · unità servite ' + served + ' · in FTTH ' + ftth + ' · unità in aree bianche ancora da servire: ' + left; },
      tFTTHShare: 'Unità in FTTH',
      tWhiteLeft: 'Aree bianche da servire',
      tSitesUp: 'Linee monitorate funzionanti',
      tOpenComune: 'Clic o Invio: apri il comune',
      tCluster: 'Gruppo di civici',
      tWhiteCluster: 'Civici in area bianca',
      tMainClass: 'Classe prevalente',
      tClasses: 'Per classe',
      tZoomHint: 'Clic o Invio: ingrandisci qui',
      tableTitleConsortium: 'Dati per comune',
      tableTitleComune: function (name) { return 'Dati di ' + name + ', per frazione'; },
      thComune: 'Comune',
      thHamlet: 'Frazione',
      thCivics: 'Civici',
      thUnits: 'Unità',
      thServed: 'Unità servite',
      thFTTH: 'In FTTH',
      thWhite: 'In aree bianche',
      thWhiteLeft: 'Aree bianche da servire',
      thSites: 'Linee funzionanti',
      totalRow: 'Totale del consorzio',
      wholeComune: 'Tutto il comune',
      tableSynthetic: 'Dati sintetici: i registri dei civici di questa demo sono inventati.',
      tableLoading: 'Caricamento dei dati…',
      tableFailed: function (code) { return 'Dati non disponibili (' + code + ').'; },
      timelineTitle: 'Avanzamento per mese: quota di unità servite (area) e raggiunte in FTTH (tratteggio)',
      timelineRange: function (a, sa, b, sb) { return a + ': ' + sa + ' → ' + b + ': ' + sb; },
      openComune: function (name) { return 'Apri ' + name; },
      hamletPosition: function (status, dist) { return 'posizione ' + status + ', ±' + dist; },

      'class.vhcn': 'VHCN — rete ad altissima capacità',
      'class.nga': 'NGA ≥30 Mbit/s',
      'class.adequate': 'adeguata ≥20 Mbit/s',
      'class.below': 'sotto soglia (<20 Mbit/s)',
      'state.up': 'funzionante',
      'state.down': 'guasta',
      'state.silent': 'silenziosa (nessun dato recente)',
      'state.unknown': 'stato sconosciuto',
      'rollout.planned': 'pianificato',
      'rollout.design': 'in progettazione',
      'rollout.works': 'lavori in corso',
      'rollout.works_completed': 'lavori completati',
      'rollout.acceptance': 'in collaudo',
      'rollout.ready_for_sale': 'attivabile',
      'rollout.active': 'attivo',
      'rollout.none': 'nessun intervento',
      'area.white': 'bianca',
      'area.grey': 'grigia',
      'area.gray': 'grigia',
      'area.black': 'nera',
      'coord.sourced': 'da fonte',
      'coord.approximate': 'approssimata',
      'coord.estimated': 'stimata',
      yes: 'sì',
      no: 'no',

      // the answer
      techCovered: {
        FTTH: 'in fibra FTTH', FTTB: 'in fibra FTTB', FTTP: 'in fibra FTTP',
        FWA: 'in FWA (radio fissa)', FTTC: "in FTTC (fibra fino all'armadio, rame fino a casa)", VDSL: 'in VDSL (rame)'
      },
      verdictCovered: function (tech, speeds, since) { return 'Coperto ' + tech + speeds + since; },
      verdictCopperOnly: function (tech, speeds) { return 'Non coperto in fibra: solo ' + tech + speeds; },
      verdictNone: 'Non coperto: nessuna rete fissa veloce registrata',
      verdictNotYet: function (tech, state, since) { return 'Non ancora coperto: ' + tech + ', ' + state + since; },
      verdictOutside: "Fuori dall'area monitorata",
      verdictAmbiguous: function (q) { return q ? 'Più indirizzi corrispondono a «' + q + '»: scegli quello giusto' : 'Più indirizzi corrispondono: scegli quello giusto'; },
      speedsUpTo: function (d, u) { return ' fino a ' + (u ? d + '/' + u : d) + ' Mbit/s'; },
      activeSince: function (date) { return ', attivo dal ' + date; },
      orderableSince: function (date) { return ', attivabile dal ' + date; },
      stateSince: function (date) { return ' (dal ' + date + ')'; },
      nearestLine: function (label, dist) { return 'Indirizzo più vicino al punto indicato: ' + label + (dist ? ', a ' + dist : ''); },
      candidatesLabel: 'Indirizzi possibili',
      dClass: 'Classe di copertura',
      dWhite: 'Area bianca',
      dWhiteYes: function (cls) { return 'sì — area a fallimento di mercato' + (cls ? ' (area ' + cls + ')' : ''); },
      dWhiteNo: function (cls) { return 'no' + (cls ? ' (area ' + cls + ')' : ''); },
      dTech: 'Tecnologia',
      dSpeed: 'Velocità massima',
      dState: 'Stato',
      dUnits: 'Unità immobiliari',
      dOperator: 'Operatore',
      dCoords: 'Coordinate',
      probesTitle: 'Misure reali delle linee monitorate vicine',
      probesNone: 'Nessuna linea monitorata nelle vicinanze.',
      probeDistance: function (d) { return 'a ' + d; },
      probeSpeeds: function (d, u) { return 'download ' + d + ' Mbit/s, upload ' + u + ' Mbit/s'; },
      probeRTT: function (ms) { return 'latenza ' + ms + ' ms'; },
      probeMeasured: function (when) { return 'misurata il ' + when; },
      probeNoData: 'nessuna misura di velocità',
      probeSynthetic: 'sito sintetico',
      probeEmulated: 'linea emulata (demo): misure di un simulatore, non di una linea reale',
      syntheticWarning: 'Dati sintetici: il registro dei civici di questa demo è inventato, quindi questa risposta non descrive un indirizzo reale.',
      serviceNote: function (m) { return 'Nota del servizio: ' + m; },
      errNotFound: function (e) { return 'Indirizzo non trovato' + (e ? ': ' + e : ''); },
      errNoLookup: function (e) { return 'La verifica della copertura non è ancora disponibile su questo servizio' + (e ? ' (' + e + ')' : ''); },
      errInvalid: function (e) { return 'Richiesta non valida' + (e ? ': ' + e : ''); },
      errServer: function (code) { return 'Servizio temporaneamente non disponibile (' + code + '). Riprova più tardi.'; },
      errNetwork: 'Servizio non raggiungibile. Controlla la connessione e riprova.',

      // tooltips
      tSite: 'Linea monitorata',
      tHamlet: 'Frazione',
      tAddress: 'Indirizzo',
      tWhiteArea: 'Area bianca',
      tComune: 'Comune',
      tState: 'Stato',
      tTech: 'Tecnologia (contratto)',
      tMeasured: 'Misurata',
      tRTT: 'Latenza',
      tAvailability: 'Disponibilità 24 h',
      tLastSeen: 'Ultimo dato',
      tWhere: 'Dove',
      tPosition: 'Posizione',
      tSeat: 'Sede comunale',
      tClass: 'Classe',
      tSince: 'Stato',
      tUnits: 'Unità',
      tAreaClass: 'Tipo di area',
      tISTAT: 'Codice ISTAT',
      tArea: 'Superficie',
      tSynthetic: 'Dati sintetici',
      tAddresses: 'Civici',
      tServedShare: 'Unità servite',
      tWhiteShare: 'Quota delle unità',
      tOperator: 'Operatore',
      tSyntheticSite: 'sito inventato',
      tSyntheticLine: 'tecnologia e contratto illustrativi',
      tEmulated: 'Linea emulata (demo)',
      tClickHint: 'Clic o Invio: verifica la copertura qui'
    },
    en: {
      titleConsortium: 'fibremon — {0} municipalities: fibre coverage',
      titleComune: 'fibremon — {0}: fibre coverage',
      subtitle: 'Is your address covered by fibre? By what, since when, and how do the lines nearby perform.',
      skipToSearch: 'Skip to the address search',
      langToggle: 'Italiano',
      langToggleLang: 'it',
      langToggleLabel: "Passa all'italiano",
      searchTitle: 'Check an address',
      searchLabel: 'Your address',
      searchPlaceholder: 'Your address (e.g. Via Roma 5)',
      searchButton: 'Check',
      searchHint: 'Or click a point on the map.',
      searchEmpty: 'Type an address, for example “Via Roma 5”.',
      answerTitle: 'Answer',
      answerEmpty: 'Type an address or click on the map to learn whether it is covered.',
      loading: 'Searching…',
      mapTitle: 'Coverage map',
      mapLabel: 'Map of {0}. Drag or use the arrow keys to move it, wheel or +/− to zoom; click, Enter or Space on a point to check its coverage, on a group of civics to zoom into it.',
      mapLabelConsortium: 'Map of the {0} municipalities of the consortium, coloured by the share of units served. Click, Enter or Space on a municipality to open it.',
      mapHint: 'Drag to move the map, wheel or the +/− buttons to zoom; click a point to check its coverage, a group of civics to zoom into it: civics come by area, one by one up close. With the keyboard: Tab to the points, Enter to check them, arrows and +/− to move the map.',
      mapHintConsortium: 'Click a municipality (or Tab and Enter) to open it: its civics, hamlets and rollout figures. Drag to move the map, wheel or +/− to zoom.',
      mapLoading: 'Loading the map…',
      mapFailed: 'Map not available: {0}',
      mapUpdated: 'Sites updated at {0}',
      layersTitle: 'Layers',
      'layer.tiles': 'Background map',
      'layer.comune': 'Municipal boundary',
      'layer.hamlets': 'Hamlets',
      'layer.white-areas': 'White areas',
      'layer.addresses': 'Addresses',
      'layer.sites': 'Monitored lines',
      layerUnavailable: '(not available)',
      layerEmpty: '(no data)',
      zoomIn: 'Zoom in',
      zoomOut: 'Zoom out',
      zoomReset: 'Whole view',
      legendTitle: 'Legend',
      legendAddresses: 'Addresses, by coverage class',
      legendSites: 'Monitored lines, by state',
      legendOther: 'Other',
      legendWhite: 'White area (market failure)',
      legendComune: 'Municipal boundary',
      legendHamlet: 'Hamlet centre',
      legendEstimated: 'Estimated position: the dashed circle is the uncertainty',
      legendHighlight: 'Point of the answer',
      syntheticBadge: 'synthetic data',
      syntheticBadgeTitle: 'Some features on the map (the civic address register, some sites) are invented for the demo.',
      footerNote: 'Site and measurement data: fibremon. Some data (the civic address register, some sites) are synthetic, for the demo.',
      placeLabel: 'Municipality',
      comuneLabel: 'Municipality',
      allComuni: 'All municipalities of the consortium',
      backToConsortium: '← All municipalities',
      viewTabs: 'View',
      tabMap: 'Map',
      tabTable: 'Figures',
      measureLabel: 'Colour the municipalities by',
      'measure.served_share': 'units served',
      'measure.ftth_ready_share': 'units reached by FTTH',
      searchScopeAll: function (n) { return 'Searches all ' + n + ' municipalities of the consortium (you may add the municipality: “Via Roma 5, Crema”).'; },
      searchScopeComune: function (name) { return 'Searches ' + name + '. To search every municipality, go back to “All municipalities”.'; },
      layerInComune: '(choose a municipality)',
      legendChoropleth: function (m) { return 'Municipalities, by share of ' + m; },
      legendNoFigures: 'no figures',
      legendCluster: 'Group of civics: colour of the main class, number of civics',
      legendWhiteCluster: 'Group of white-area civics',
      unknownComune: function (k) { return 'Unknown municipality “' + k + '”. Showing all municipalities of the consortium.'; },
      scopeConsortium: function (n, civics, served, ftth, left) { return n + ' municipalities · ' + civics + ' civics · units served ' + served + ' · on FTTH ' + ftth + ' · white-area units still to serve: ' + left; },
      scopeComune: function (name, civics, served, ftth, left) { return name + ': ' + civics + ' civics · units served ' + served + ' · on FTTH ' + ftth + ' · white-area units still to serve: ' + left; },
      tFTTHShare: 'Units on FTTH',
      tWhiteLeft: 'White areas left',
      tSitesUp: 'Monitored lines up',
      tOpenComune: 'Click or Enter: open the municipality',
      tCluster: 'Group of civics',
      tWhiteCluster: 'White-area civics',
      tMainClass: 'Main class',
      tClasses: 'By class',
      tZoomHint: 'Click or Enter: zoom in here',
      tableTitleConsortium: 'Figures by municipality',
      tableTitleComune: function (name) { return 'Figures of ' + name + ', by hamlet'; },
      thComune: 'Municipality',
      thHamlet: 'Hamlet',
      thCivics: 'Civics',
      thUnits: 'Units',
      thServed: 'Units served',
      thFTTH: 'On FTTH',
      thWhite: 'In white areas',
      thWhiteLeft: 'White areas left',
      thSites: 'Lines up',
      totalRow: 'Consortium total',
      wholeComune: 'Whole municipality',
      tableSynthetic: 'Synthetic data: the civic registers of this demo are invented.',
      tableLoading: 'Loading the figures…',
      tableFailed: function (code) { return 'Figures not available (' + code + ').'; },
      timelineTitle: 'Rollout by month: share of units served (area) and reached by FTTH (dashed)',
      timelineRange: function (a, sa, b, sb) { return a + ': ' + sa + ' → ' + b + ': ' + sb; },
      openComune: function (name) { return 'Open ' + name; },
      hamletPosition: function (status, dist) { return status + ' position, ±' + dist; },

      'class.vhcn': 'VHCN — very high capacity network',
      'class.nga': 'NGA ≥30 Mbit/s',
      'class.adequate': 'adequate ≥20 Mbit/s',
      'class.below': 'below threshold (<20 Mbit/s)',
      'state.up': 'up',
      'state.down': 'down',
      'state.silent': 'silent (nothing heard lately)',
      'state.unknown': 'state unknown',
      'rollout.planned': 'planned',
      'rollout.design': 'being designed',
      'rollout.works': 'works in progress',
      'rollout.works_completed': 'works completed',
      'rollout.acceptance': 'in acceptance testing',
      'rollout.ready_for_sale': 'available to order',
      'rollout.active': 'active',
      'rollout.none': 'no works',
      'area.white': 'white',
      'area.grey': 'grey',
      'area.gray': 'grey',
      'area.black': 'black',
      'coord.sourced': 'sourced',
      'coord.approximate': 'approximate',
      'coord.estimated': 'estimated',
      yes: 'yes',
      no: 'no',

      techCovered: {
        FTTH: 'by FTTH', FTTB: 'by FTTB', FTTP: 'by FTTP',
        FWA: 'by FWA (fixed wireless)', FTTC: 'by FTTC (fibre to the cabinet, copper to the home)', VDSL: 'by VDSL (copper)'
      },
      verdictCovered: function (tech, speeds, since) { return 'Covered ' + tech + speeds + since; },
      verdictCopperOnly: function (tech, speeds) { return 'Not covered by fibre: ' + tech + ' only' + (speeds ? ',' + speeds : ''); },
      verdictNone: 'Not covered: no fast fixed network recorded',
      verdictNotYet: function (tech, state, since) { return 'Not covered yet: ' + tech + ', ' + state + since; },
      verdictOutside: 'Outside the monitored area',
      verdictAmbiguous: function (q) { return q ? 'Several addresses match “' + q + '”: choose one' : 'Several addresses match: choose one'; },
      speedsUpTo: function (d, u) { return ' up to ' + (u ? d + '/' + u : d) + ' Mbit/s'; },
      activeSince: function (date) { return ', active since ' + date; },
      orderableSince: function (date) { return ', available to order since ' + date; },
      stateSince: function (date) { return ' (since ' + date + ')'; },
      nearestLine: function (label, dist) { return 'Nearest address to the point: ' + label + (dist ? ', ' + dist + ' away' : ''); },
      candidatesLabel: 'Possible addresses',
      dClass: 'Coverage class',
      dWhite: 'White area',
      dWhiteYes: function (cls) { return 'yes — market failure area' + (cls ? ' (' + cls + ' area)' : ''); },
      dWhiteNo: function (cls) { return 'no' + (cls ? ' (' + cls + ' area)' : ''); },
      dTech: 'Technology',
      dSpeed: 'Maximum speed',
      dState: 'State',
      dUnits: 'Housing units',
      dOperator: 'Operator',
      dCoords: 'Coordinates',
      probesTitle: 'Measured speeds of monitored lines nearby',
      probesNone: 'No monitored line nearby.',
      probeDistance: function (d) { return d + ' away'; },
      probeSpeeds: function (d, u) { return 'download ' + d + ' Mbit/s, upload ' + u + ' Mbit/s'; },
      probeRTT: function (ms) { return 'latency ' + ms + ' ms'; },
      probeMeasured: function (when) { return 'measured ' + when; },
      probeNoData: 'no speed measurement',
      probeSynthetic: 'synthetic site',
      probeEmulated: 'emulated line (demo): measurements of a simulator, not of a real line',
      syntheticWarning: 'Synthetic data: the civic address register of this demo is invented, so this answer does not describe a real address.',
      serviceNote: function (m) { return 'Service note: ' + m; },
      errNotFound: function (e) { return 'Address not found' + (e ? ': ' + e : ''); },
      errNoLookup: function (e) { return 'Coverage lookup is not available on this service yet' + (e ? ' (' + e + ')' : ''); },
      errInvalid: function (e) { return 'Invalid request' + (e ? ': ' + e : ''); },
      errServer: function (code) { return 'Service temporarily unavailable (' + code + '). Please retry later.'; },
      errNetwork: 'The service cannot be reached. Check your connection and retry.',

      tSite: 'Monitored line',
      tHamlet: 'Hamlet',
      tAddress: 'Address',
      tWhiteArea: 'White area',
      tComune: 'Comune',
      tState: 'State',
      tTech: 'Technology (contract)',
      tMeasured: 'Measured',
      tRTT: 'Latency',
      tAvailability: 'Availability 24 h',
      tLastSeen: 'Last heard',
      tWhere: 'Where',
      tPosition: 'Position',
      tSeat: 'Municipal seat',
      tClass: 'Class',
      tSince: 'State',
      tUnits: 'Units',
      tAreaClass: 'Area type',
      tISTAT: 'ISTAT code',
      tArea: 'Area',
      tSynthetic: 'Synthetic data',
      tAddresses: 'Civic numbers',
      tServedShare: 'Units served',
      tWhiteShare: 'Share of units',
      tOperator: 'Operator',
      tSyntheticSite: 'invented site',
      tSyntheticLine: 'technology and contract are illustrative',
      tEmulated: 'Emulated line (demo)',
      tClickHint: 'Click or Enter: check the coverage here'
    }
  };

  // ---------------------------------------------------------------------
  // Configuration, state, helpers.

  var cfg = readConfig();
  var API = cfg.apiBase || 'api/v1';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var DATA_LAYERS = ['comune', 'hamlets', 'white-areas', 'addresses', 'sites'];
  // The layers served by area and zoom: reloaded when the view moves.
  var AREA_LAYERS = ['white-areas', 'addresses'];
  // The layers of the consortium's map; the others need a comune.
  var CONSORTIUM_LAYERS = { comune: true, 'white-areas': true, sites: true };
  // Bins of the choropleth: shares from 0 to 1, lower bounds.
  var BINS = [0, 0.5, 0.8, 0.9, 0.95, 0.99];
  var MAX_ZOOM = 22;
  var AREA_DELAY_MS = 250;
  // The "layer" property values each drawn layer takes: the hamlets layer
  // also carries the hamlet zones.
  var LAYER_VALUES = { hamlets: ['hamlets', 'hamlet-zones'] };
  var SITES_REFRESH_MS = 30000;
  var M_PER_DEG = 111320; // metres per degree of latitude (and of longitude at the equator)
  var CLASS_COLORS = { vhcn: '#2e7d32', nga: '#1565c0', adequate: '#f9a825', below: '#c62828' };
  var STATE_COLORS = { up: '#2e7d32', down: '#c62828', silent: '#ef6c00', unknown: '#9e9e9e' };
  var FIBRE = { FTTH: true, FTTB: true, FTTP: true };
  var COVERED = { FTTH: true, FTTB: true, FTTP: true, FWA: true, FTTC: true, VDSL: true };
  // A bounding box of the Cremasco, used only if no boundary can be loaded.
  var DEFAULT_BBOX = [9.45, 45.2, 9.95, 45.55];

  var lang = initialLang();
  var state = {
    scope: null,    // the comune shown: '' the consortium, a slug; null before the first load
    scopeSeq: 0,
    comuni: null,   // the body of GET comuni, or null
    bySlug: {},     // slug -> its figures in comuni
    rollout: null,  // {slug, status, body} of GET rollout?comune=
    layers: {},     // name -> {status, features, code, url}
    area: {},       // area layer -> {bbox, zoom, seq} of its last request
    features: {},   // fid -> {layer, feature} of the features drawn
    nextFid: 0,
    answer: { kind: 'empty' },
    querySeq: 0,
    sitesUpdated: null,
    measure: 'served_share'
  };
  // nav is what the URL says: the comune, the address or point asked, the
  // view ('map' or 'table').
  var nav = { comune: '', address: '', lat: null, lon: null, view: 'map' };
  var proj = null;  // {lon0, lat0, kx}
  var view = null;  // {cx, cy, s (metres per pixel), fitS}
  var vb = null;    // current viewBox [x, y, w, h]

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  var mapEl = $('#map');
  var svg = $('#map svg');
  var tooltip = $('#tooltip');
  var groups = {};
  $$('g[data-layer]', svg).forEach(function (g) { groups[g.getAttribute('data-layer')] = g; });

  function readConfig() {
    try {
      var el = document.getElementById('config');
      return JSON.parse(el ? el.textContent : '{}') || {};
    } catch (e) {
      return {};
    }
  }

  function initialLang() {
    var q = new URLSearchParams(window.location.search).get('lang');
    if (q === 'it' || q === 'en') return q;
    try {
      var s = window.localStorage.getItem('fibremon.lang');
      if (s === 'it' || s === 'en') return s;
    } catch (e) { /* storage disabled */ }
    return 'it';
  }

  // t returns the string key in the current language; functions are called
  // with the remaining arguments, strings get {0}, {1}... replaced.
  function t(key) {
    var v = I18N[lang][key];
    if (v === undefined) v = I18N.it[key];
    if (v === undefined) return key;
    var args = Array.prototype.slice.call(arguments, 1);
    if (typeof v === 'function') return v.apply(null, args);
    return String(v).replace(/\{(\d)\}/g, function (_, i) { return args[+i] === undefined ? '' : args[+i]; });
  }

  // tv translates a value of a known vocabulary (state.up, class.nga...), or
  // returns the value itself when it is not in the dictionary.
  function tv(prefix, value) {
    if (value === undefined || value === null || value === '') return '';
    var k = prefix + '.' + value;
    return I18N[lang][k] !== undefined ? I18N[lang][k] : String(value);
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function sv(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    });
  }

  function append(e, children) {
    if (children === undefined || children === null) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
  }

  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  function fmtNum(v, maxFrac) {
    if (!isNum(v)) return '';
    return new Intl.NumberFormat(lang === 'it' ? 'it-IT' : 'en-GB', {
      maximumFractionDigits: maxFrac === undefined ? 1 : maxFrac, useGrouping: false
    }).format(v);
  }

  function fmtInt(v) {
    if (!isNum(v)) return '';
    return new Intl.NumberFormat(lang === 'it' ? 'it-IT' : 'en-GB', { maximumFractionDigits: 0 }).format(v);
  }

  function fmtPct(v) { return isNum(v) ? fmtNum(v * 100, 1) + ' %' : ''; }

  function fmtMbps(v) { return fmtNum(v, v < 10 ? 1 : (v < 100 ? 1 : 0)); }

  function fmtDist(m) {
    if (!isNum(m)) return '';
    if (m < 1000) return fmtNum(Math.round(m), 0) + ' m';
    return fmtNum(m / 1000, 1) + ' km';
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  // fmtDate formats a date "2021-06-15" (or the date part of an RFC 3339
  // time) as 15/06/2021 or 15 June 2021, without time-zone arithmetic.
  function fmtDate(s) {
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s || '');
    if (!m) return s ? String(s) : '';
    var y = +m[1], mo = +m[2], d = +m[3];
    if (mo < 1 || mo > 12) return String(s);
    return lang === 'it' ? pad2(d) + '/' + pad2(mo) + '/' + y : d + ' ' + MONTHS.en[mo - 1] + ' ' + y;
  }

  // fmtTime formats an RFC 3339 time in the browser's time zone.
  function fmtTime(s) {
    var d = new Date(s);
    if (!s || isNaN(d.getTime())) return s ? String(s) : '';
    var hm = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
    if (lang === 'it') return pad2(d.getDate()) + '/' + pad2(d.getMonth() + 1) + '/' + d.getFullYear() + ' ' + hm;
    return d.getDate() + ' ' + MONTHS.en[d.getMonth()] + ' ' + d.getFullYear() + ', ' + hm;
  }

  function safeColor(c, fallback) {
    return typeof c === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(c) ? c : fallback;
  }

  // ---------------------------------------------------------------------
  // Language.

  function applyLang() {
    document.documentElement.lang = lang;
    $$('[data-i18n]').forEach(function (e) { e.textContent = t(e.getAttribute('data-i18n')); });
    $$('[data-i18n-placeholder]').forEach(function (e) { e.setAttribute('placeholder', t(e.getAttribute('data-i18n-placeholder'))); });
    $$('[data-i18n-aria-label]').forEach(function (e) { e.setAttribute('aria-label', t(e.getAttribute('data-i18n-aria-label'))); });
    $$('[data-i18n-title]').forEach(function (e) { e.setAttribute('title', t(e.getAttribute('data-i18n-title'))); });
    var b = $('#lang-toggle');
    b.textContent = t('langToggle');
    b.setAttribute('lang', t('langToggleLang'));
    b.setAttribute('aria-label', t('langToggleLabel'));
    $('#synthetic-badge').setAttribute('title', t('syntheticBadgeTitle'));
    updateScopeText();
    updateLayerNotes();
    updateMapUpdated();
  }

  function setLang(l) {
    lang = l;
    try { window.localStorage.setItem('fibremon.lang', l); } catch (e) { /* storage disabled */ }
    applyLang();
    buildLegend();
    fillComuneSelect();
    if (proj) drawAll();
    renderAnswer();
    renderTable();
    hideTooltip();
    setNav(nav, false);
  }

  function comuneName(slug) {
    var c = state.bySlug[slug];
    return c ? c.name : slug;
  }

  function comuniCount() {
    return state.comuni ? state.comuni.comuni.filter(function (c) { return c.slug; }).length : 0;
  }

  // updateScopeText writes what depends on the comune shown: the title,
  // the map's label and hint, the search's scope, the place bar.
  function updateScopeText() {
    var slug = state.scope || '';
    var name = slug ? comuneName(slug) : '';
    var title = slug ? t('titleComune', name) : (state.comuni ? t('titleConsortium', comuniCount()) : 'fibremon');
    document.title = title;
    $('#page-title').textContent = title;
    svg.setAttribute('aria-label', slug ? t('mapLabel', name) : t('mapLabelConsortium', comuniCount()));
    $('#map-hint').textContent = slug ? t('mapHint') : t('mapHintConsortium');
    $('#search-scope').textContent = slug ? t('searchScopeComune', name) : (state.comuni ? t('searchScopeAll', comuniCount()) : '');
    $('#back-consortium').hidden = !slug;
    $('#measure-label').hidden = !!slug;
    var sel = $('#comune-select');
    if (sel.value !== slug && (!slug || state.bySlug[slug])) sel.value = slug;
    var f = slug ? state.bySlug[slug] : (state.comuni && state.comuni.consortium);
    $('#scope-figures').textContent = f ? (slug ? t('scopeComune', name, fmtInt(f.civics), fmtPct(f.served_share), fmtPct(f.ftth_ready_share), fmtInt(f.white_area_left_units))
      : t('scopeConsortium', comuniCount(), fmtInt(f.civics), fmtPct(f.served_share), fmtPct(f.ftth_ready_share), fmtInt(f.white_area_left_units))) : '';
  }

  // ---------------------------------------------------------------------
  // Loading the layers.

  var allPromise = null;

  function getJSON(url) {
    return fetch(url, { headers: { Accept: 'application/geo+json, application/json' }, cache: 'no-store' })
      .then(function (res) {
        return res.text().then(function (txt) {
          var body = null;
          try { body = txt ? JSON.parse(txt) : null; } catch (e) { body = null; }
          return { ok: res.ok, status: res.status, body: body };
        });
      });
  }

  function scopeParam() {
    return state.scope ? '&comune=' + encodeURIComponent(state.scope) : '';
  }

  // fetchAll is the collection without ?layer=, the fallback for a service
  // that refuses ?layer= with 400. Shared by the layers of one load.
  function fetchAll() {
    if (!allPromise) {
      allPromise = getJSON(API + '/coverage.geojson' + (state.scope ? '?comune=' + encodeURIComponent(state.scope) : ''))
        .then(function (r) { return r.ok && r.body && Array.isArray(r.body.features) ? r.body : null; })
        .catch(function () { return null; });
    }
    return allPromise;
  }

  // loadLayer fetches one layer of the comune shown (of every comune for
  // the consortium), an area layer for area (bbox and zoom). A layer the
  // service does not have (4xx) is "unavailable" and the page goes on
  // without it. Features that say which layer they belong to are kept only
  // for this layer, so a service that ignores ?layer= also works.
  function loadLayer(name, area) {
    var url = API + '/coverage.geojson?layer=' + encodeURIComponent(name) + scopeParam();
    if (area) url += '&bbox=' + area.bbox.map(function (v) { return v.toFixed(5); }).join(',') + '&zoom=' + area.zoom;
    return getJSON(url)
      .then(function (r) {
        if (r.status === 400) {
          return fetchAll().then(function (all) {
            return all ? { ok: true, status: 200, body: all } : r;
          });
        }
        return r;
      })
      .then(function (r) {
        if (!r.ok || !r.body || !Array.isArray(r.body.features)) {
          return { status: 'unavailable', code: r.status, features: [], url: url };
        }
        if (typeof r.body.attribution === 'string' && r.body.attribution) {
          $('#boundary-attribution').textContent = r.body.attribution;
          $('#map-attribution').textContent = r.body.attribution;
        }
        var feats = r.body.features.filter(function (f) {
          if (!f || !f.geometry) return false;
          var p = f.properties || {};
          return p.layer === undefined || p.layer === null || (LAYER_VALUES[name] || [name]).indexOf(p.layer) >= 0;
        });
        return { status: feats.length ? 'ok' : 'empty', features: feats, code: r.status, url: url, clustered: r.body.clustered === true };
      })
      .catch(function (e) {
        return { status: 'unavailable', code: 0, features: [], error: String(e && e.message || e), url: url };
      });
  }

  function updateLayerNotes() {
    DATA_LAYERS.forEach(function (name) {
      var st = state.layers[name];
      var note = $('[data-note-for="' + name + '"]');
      var box = $('#layer-' + name);
      if (!note || !box) return;
      var s = st ? st.status : 'loading';
      note.textContent = s === 'unavailable' ? t('layerUnavailable') : (s === 'empty' ? t('layerEmpty') : (s === 'scope' ? t('layerInComune') : ''));
      box.disabled = s === 'unavailable' || s === 'empty' || s === 'scope';
      box.closest('label').classList.toggle('disabled', box.disabled);
    });
  }

  function updateMapUpdated() {
    var p = $('#map-updated');
    if (!p) return;
    p.textContent = state.sitesUpdated ? t('mapUpdated', pad2(state.sitesUpdated.getHours()) + ':' + pad2(state.sitesUpdated.getMinutes())) : '';
  }

  function setStatus(text) { $('#map-status').textContent = text || ''; }

  // ---------------------------------------------------------------------
  // Projection and view: equirectangular around the comune, in metres.

  function eachCoord(geom, fn) {
    if (!geom) return;
    var walk = function (c) {
      if (!Array.isArray(c)) return;
      if (typeof c[0] === 'number') { if (isNum(c[0]) && isNum(c[1])) fn(c[0], c[1]); return; }
      c.forEach(walk);
    };
    if (geom.type === 'GeometryCollection') (geom.geometries || []).forEach(function (g) { eachCoord(g, fn); });
    else walk(geom.coordinates);
  }

  function bboxOf(features) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    features.forEach(function (f) {
      eachCoord(f.geometry, function (lon, lat) {
        if (lon < b[0]) b[0] = lon;
        if (lat < b[1]) b[1] = lat;
        if (lon > b[2]) b[2] = lon;
        if (lat > b[3]) b[3] = lat;
      });
    });
    return isFinite(b[0]) ? b : null;
  }

  function setupProjection() {
    var c = state.layers.comune;
    var bb = c && c.status === 'ok' ? bboxOf(c.features) : null;
    if (!bb) {
      var all = [];
      DATA_LAYERS.forEach(function (n) { if (state.layers[n]) all = all.concat(state.layers[n].features); });
      bb = bboxOf(all) || DEFAULT_BBOX;
    }
    var lon0 = (bb[0] + bb[2]) / 2, lat0 = (bb[1] + bb[3]) / 2;
    proj = { lon0: lon0, lat0: lat0, kx: M_PER_DEG * Math.cos(lat0 * Math.PI / 180) };
    var p0 = project(bb[0], bb[3]), p1 = project(bb[2], bb[1]);
    proj.fit = [p0[0], p0[1], p1[0], p1[1]];
  }

  function project(lon, lat) {
    return [(lon - proj.lon0) * proj.kx, -(lat - proj.lat0) * M_PER_DEG];
  }

  function unproject(x, y) {
    return [proj.lon0 + x / proj.kx, proj.lat0 - y / M_PER_DEG];
  }

  function svgSize() {
    var r = svg.getBoundingClientRect();
    return [Math.max(r.width, 1), Math.max(r.height, 1)];
  }

  function fitView() {
    var sz = svgSize();
    var f = proj.fit;
    var w = Math.max(f[2] - f[0], 200), h = Math.max(f[3] - f[1], 200);
    var s = Math.max(w / sz[0], h / sz[1]) * 1.08;
    view = { cx: (f[0] + f[2]) / 2, cy: (f[1] + f[3]) / 2, s: s, fitS: s, fitted: true };
    applyView();
  }

  function applyView() {
    if (!view) return;
    var sz = svgSize();
    vb = [view.cx - sz[0] * view.s / 2, view.cy - sz[1] * view.s / 2, sz[0] * view.s, sz[1] * view.s];
    svg.setAttribute('viewBox', vb.map(function (v) { return v.toFixed(2); }).join(' '));
    svg.style.setProperty('--u', String(view.s));
    var hatch = document.getElementById('hatch');
    if (hatch) hatch.setAttribute('patternTransform', 'rotate(45) scale(' + (view.s / 5).toFixed(4) + ')');
    scheduleTiles();
    scheduleArea();
    fitLabels();
  }

  // fitLabels shows the name of each comune of the consortium's map whose
  // polygon is wide enough on screen to hold it.
  function fitLabels() {
    if (!view) return;
    $$('.comune-label', groups['comune-labels']).forEach(function (g) {
      var fits = +g.getAttribute('data-width') / view.s >= 6.2 * +g.getAttribute('data-chars');
      if (fits) g.removeAttribute('display');
      else g.setAttribute('display', 'none');
    });
  }

  // mapZoom is the zoom level of map tiles (256 pixels at zoom 0) whose
  // scale is nearest below the view's.
  function mapZoom() {
    var z = Math.floor(Math.log2(40075016.686 * Math.cos(proj.lat0 * Math.PI / 180) / (256 * view.s)));
    return Math.min(Math.max(z, 0), MAX_ZOOM);
  }

  // viewBBox returns the lon/lat box of the view, grown by pad of its size
  // on each side: [minLon, minLat, maxLon, maxLat].
  function viewBBox(pad) {
    var dx = vb[2] * pad, dy = vb[3] * pad;
    var nw = unproject(vb[0] - dx, vb[1] - dy), se = unproject(vb[0] + vb[2] + dx, vb[1] + vb[3] + dy);
    return [Math.max(nw[0], -180), Math.max(se[1], -90), Math.min(se[0], 180), Math.min(nw[1], 90)];
  }

  function bboxContains(outer, inner) {
    return outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
  }

  // ---------------------------------------------------------------------
  // The layers served by area and zoom: fetched for the view (and half of
  // it around), again when the zoom changes or the view leaves what was
  // fetched.

  var areaTimer = null;
  var areaInflight = 0;

  // markArea says on #map whether layers by area are still to come
  // (data-area="pending") or all drawn ("idle").
  function markArea() {
    mapEl.setAttribute('data-area', areaTimer || areaInflight ? 'pending' : 'idle');
  }

  function scheduleArea() {
    if (state.scope === null || !proj || !vb) return;
    if (areaTimer) clearTimeout(areaTimer);
    areaTimer = setTimeout(function () { areaTimer = null; loadAreaLayers(false); }, AREA_DELAY_MS);
    markArea();
  }

  function areaLayers() {
    return AREA_LAYERS.filter(function (n) { return state.scope || CONSORTIUM_LAYERS[n]; });
  }

  // loadAreaLayers fetches the area layers whose last answer does not
  // cover the view at its zoom (all of them when force), and redraws them.
  function loadAreaLayers(force) {
    if (!proj || !vb) return Promise.resolve();
    var zoom = mapZoom(), inView = viewBBox(0), seq = state.scopeSeq;
    var todo = areaLayers().filter(function (n) {
      var a = state.area[n];
      return force || !a || a.zoom !== zoom || !bboxContains(a.bbox, inView);
    });
    if (!todo.length) {
      markArea();
      return Promise.resolve();
    }
    var area = { bbox: viewBBox(0.5), zoom: zoom };
    areaInflight++;
    markArea();
    return Promise.all(todo.map(function (n) {
      var req = (state.area[n] = { bbox: area.bbox, zoom: zoom, seq: (state.area[n] ? state.area[n].seq : 0) + 1 });
      return loadLayer(n, area).then(function (st) {
        if (seq !== state.scopeSeq || state.area[n] !== req) return false; // a newer request or comune
        if (st.status === 'unavailable') req.zoom = -1; // retry on the next move
        state.layers[n] = st;
        return true;
      });
    })).then(function (changed) {
      areaInflight--;
      markArea();
      if (seq !== state.scopeSeq) return;
      todo.forEach(function (n, i) { if (changed[i]) drawLayer(n); });
      drawHighlight();
      updateBadge();
      updateLayerNotes();
    });
  }

  // zoomToBBox shows the lon/lat box b = [minLon, minLat, maxLon, maxLat].
  function zoomToBBox(b) {
    if (!proj || !Array.isArray(b) || b.length < 4 || !b.every(isNum)) return;
    var p0 = project(b[0], b[3]), p1 = project(b[2], b[1]);
    var sz = svgSize();
    var w = Math.max(p1[0] - p0[0], 150), h = Math.max(p1[1] - p0[1], 150);
    view.fitted = false;
    view.s = Math.max(Math.min(Math.max(w / sz[0], h / sz[1]) * 1.2, view.fitS * 3), 0.05);
    view.cx = (p0[0] + p1[0]) / 2;
    view.cy = (p0[1] + p1[1]) / 2;
    applyView();
  }

  // onResize keeps the whole comune in view until the visitor moves the
  // map; after that it keeps the scale and the centre.
  function onResize() {
    if (view && view.fitted) fitView();
    else applyView();
  }

  function zoomAt(factor, x, y) {
    if (!view) return;
    view.fitted = false;
    var s = Math.min(Math.max(view.s / factor, 0.05), view.fitS * 3);
    var f = view.s / s;
    if (x === undefined) { x = view.cx; y = view.cy; }
    view.cx = x + (view.cx - x) / f;
    view.cy = y + (view.cy - y) / f;
    view.s = s;
    applyView();
  }

  function panBy(dxPx, dyPx) {
    if (!view) return;
    view.fitted = false;
    view.cx += dxPx * view.s;
    view.cy += dyPx * view.s;
    applyView();
  }

  // clientToMap returns the map coordinates under a point of the window,
  // through the SVG's own transform: right even while a resize has not
  // been followed by a new viewBox yet.
  function clientToMap(clientX, clientY) {
    var m = svg.getScreenCTM && svg.getScreenCTM();
    if (m && svg.createSVGPoint) {
      var p = svg.createSVGPoint();
      p.x = clientX;
      p.y = clientY;
      var q = p.matrixTransform(m.inverse());
      return [q.x, q.y];
    }
    var r = svg.getBoundingClientRect();
    return [vb[0] + (clientX - r.left) * view.s, vb[1] + (clientY - r.top) * view.s];
  }

  function ensureVisible(x, y) {
    if (!vb) return;
    var m = 0.1;
    if (x < vb[0] + vb[2] * m || x > vb[0] + vb[2] * (1 - m) || y < vb[1] + vb[3] * m || y > vb[1] + vb[3] * (1 - m)) {
      view.cx = x;
      view.cy = y;
      applyView();
    }
  }

  // ---------------------------------------------------------------------
  // Optional raster tiles (Web Mercator) under the SVG layers.

  var tileTimer = null;
  var tileEls = {};

  function scheduleTiles() {
    if (!cfg.tileURL) return;
    if (tileTimer) clearTimeout(tileTimer);
    tileTimer = setTimeout(drawTiles, 120);
  }

  function lon2tile(lon, z) { return Math.floor((lon + 180) / 360 * Math.pow(2, z)); }
  function lat2tile(lat, z) {
    var r = lat * Math.PI / 180;
    return Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * Math.pow(2, z));
  }
  function tile2lon(x, z) { return x / Math.pow(2, z) * 360 - 180; }
  function tile2lat(y, z) {
    var n = Math.PI - 2 * Math.PI * y / Math.pow(2, z);
    return 180 / Math.PI * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n)));
  }

  function drawTiles() {
    var g = groups.tiles;
    if (!cfg.tileURL || !proj || !vb || !$('#layer-tiles').checked) {
      g.replaceChildren();
      tileEls = {};
      return;
    }
    var z = Math.round(Math.log2(40075016.686 * Math.cos(proj.lat0 * Math.PI / 180) / (256 * view.s)));
    z = Math.min(Math.max(z, 1), 19);
    var nw = unproject(vb[0], vb[1]), se = unproject(vb[0] + vb[2], vb[1] + vb[3]);
    var x0, x1, y0, y1;
    for (;;) {
      x0 = lon2tile(nw[0], z); x1 = lon2tile(se[0], z);
      y0 = lat2tile(nw[1], z); y1 = lat2tile(se[1], z);
      if ((x1 - x0 + 1) * (y1 - y0 + 1) <= 64 || z <= 1) break;
      z--;
    }
    var max = Math.pow(2, z) - 1;
    var keep = {};
    for (var x = Math.max(x0, 0); x <= Math.min(x1, max); x++) {
      for (var y = Math.max(y0, 0); y <= Math.min(y1, max); y++) {
        var key = z + '/' + x + '/' + y;
        keep[key] = true;
        if (tileEls[key]) continue;
        var a = project(tile2lon(x, z), tile2lat(y, z)), b = project(tile2lon(x + 1, z), tile2lat(y + 1, z));
        var url = cfg.tileURL.replace('{z}', z).replace('{x}', x).replace('{y}', y)
          .replace('{s}', 'abc'.charAt((x + y) % 3)).replace('{r}', '');
        var img = sv('image', {
          href: url, x: a[0].toFixed(2), y: a[1].toFixed(2),
          width: (b[0] - a[0]).toFixed(2), height: (b[1] - a[1]).toFixed(2),
          preserveAspectRatio: 'none', 'data-tile': key, 'aria-hidden': 'true'
        });
        tileEls[key] = img;
        g.appendChild(img);
      }
    }
    Object.keys(tileEls).forEach(function (k) {
      if (!keep[k]) { tileEls[k].remove(); delete tileEls[k]; }
    });
  }

  // ---------------------------------------------------------------------
  // Drawing the layers.

  function ringPath(ring) {
    var d = '';
    ring.forEach(function (c, i) {
      if (!isNum(c[0]) || !isNum(c[1])) return;
      var p = project(c[0], c[1]);
      d += (i ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1);
    });
    return d ? d + 'Z' : '';
  }

  function polygonsOf(geom) {
    if (!geom) return [];
    if (geom.type === 'Polygon') return [geom.coordinates || []];
    if (geom.type === 'MultiPolygon') return geom.coordinates || [];
    if (geom.type === 'GeometryCollection') {
      return (geom.geometries || []).reduce(function (a, g) { return a.concat(polygonsOf(g)); }, []);
    }
    return [];
  }

  function pointsOf(geom) {
    if (!geom) return [];
    if (geom.type === 'Point') return [geom.coordinates];
    if (geom.type === 'MultiPoint') return geom.coordinates || [];
    if (geom.type === 'GeometryCollection') {
      return (geom.geometries || []).reduce(function (a, g) { return a.concat(pointsOf(g)); }, []);
    }
    return [];
  }

  function linesOf(geom) {
    if (!geom) return [];
    if (geom.type === 'LineString') return [geom.coordinates || []];
    if (geom.type === 'MultiLineString') return geom.coordinates || [];
    return [];
  }

  function polygonD(geom) {
    return polygonsOf(geom).map(function (poly) { return poly.map(ringPath).join(''); }).join('');
  }

  function centroidOf(geom) {
    var sx = 0, sy = 0, n = 0;
    polygonsOf(geom).forEach(function (poly) {
      (poly[0] || []).forEach(function (c) { if (isNum(c[0]) && isNum(c[1])) { sx += c[0]; sy += c[1]; n++; } });
    });
    return n ? [sx / n, sy / n] : null;
  }

  function props(f) { return f.properties || {}; }

  function featureName(f) {
    var p = props(f);
    if (p.layer === 'hamlets' || p.layer === 'hamlet-zones') return hamletLabel(p);
    return p.label || p.name || p.address || p.site_id || (f.id !== undefined ? String(f.id) : '');
  }

  // hamletLabel names a hamlet, saying in the page's language when its
  // centre is not sourced: "Zappello (posizione stimata, ±1,2 km)".
  function hamletLabel(p) {
    if (p.name && p.coord_status && p.coord_status !== 'sourced' && isNum(p.coord_uncertainty_m)) {
      return p.name + ' (' + t('hamletPosition', tv('coord', p.coord_status), fmtDist(p.coord_uncertainty_m)) + ')';
    }
    return p.label || p.name || '';
  }

  // tooltipRows returns [label, value] pairs of the feature's key
  // properties in the current language; the first row is its title.
  function tooltipRows(layer, f) {
    var p = props(f);
    var rows = [];
    var add = function (k, v) { if (v !== undefined && v !== null && v !== '') rows.push([k, String(v)]); };
    var position = function () {
      if (!p.coord_status) return;
      var s = tv('coord', p.coord_status);
      if (isNum(p.coord_uncertainty_m) && p.coord_status !== 'sourced') s += ' (±' + fmtDist(p.coord_uncertainty_m) + ')';
      add(t('tPosition'), s);
    };
    switch (layer) {
    case 'sites':
      add(t('tSite'), p.name || p.site_id);
      add(t('tState'), tv('state', p.state || 'unknown'));
      add(t('tTech'), [p.technology, isNum(p.contract_download_mbps) ? fmtMbps(p.contract_download_mbps) + (isNum(p.contract_upload_mbps) ? '/' + fmtMbps(p.contract_upload_mbps) : '') + ' Mbit/s' : ''].filter(Boolean).join(' '));
      if (isNum(p.download_mbps) || isNum(p.upload_mbps)) {
        add(t('tMeasured'), (isNum(p.download_mbps) ? '↓ ' + fmtMbps(p.download_mbps) : '↓ –') + ' / ' + (isNum(p.upload_mbps) ? '↑ ' + fmtMbps(p.upload_mbps) : '↑ –') + ' Mbit/s');
      }
      if (isNum(p.rtt_ms)) add(t('tRTT'), fmtNum(p.rtt_ms, 1) + ' ms');
      if (isNum(p.availability_24h)) add(t('tAvailability'), fmtNum(p.availability_24h * 100, 1) + ' %');
      if (p.last_seen) add(t('tLastSeen'), fmtTime(p.last_seen));
      add(t('tWhere'), [p.address, p.hamlet].filter(Boolean).join(', '));
      position();
      if (p.synthetic || p.line_synthetic) add(t('tSynthetic'), [p.synthetic ? t('tSyntheticSite') : '', p.line_synthetic ? t('tSyntheticLine') : ''].filter(Boolean).join('; '));
      if (p.line_emulated) add(t('tEmulated'), t('yes'));
      break;
    case 'hamlets':
      add(t('tHamlet'), hamletLabel(p));
      if (p.seat) add(t('tSeat'), t('yes'));
      if (isNum(p.addresses)) add(t('tAddresses'), fmtNum(p.addresses, 0) + (isNum(p.units) ? ' (' + t('tUnits').toLowerCase() + ' ' + fmtNum(p.units, 0) + ')' : ''));
      if (isNum(p.served_share)) add(t('tServedShare'), fmtNum(p.served_share * 100, 1) + ' %');
      if (isNum(p.area_km2)) add(t('tArea'), fmtNum(p.area_km2, 2) + ' km²');
      position();
      if (p.synthetic_addresses) add(t('tSynthetic'), t('yes'));
      break;
    case 'addresses':
      if (p.cluster === true) {
        add(t('tCluster'), fmtInt(p.addresses) + ' ' + t('tAddresses').toLowerCase() + (p.comune ? ' · ' + comuneName(p.comune) : ''));
        if (p.class) add(t('tMainClass'), tv('class', p.class));
        add(t('tClasses'), ['vhcn', 'nga', 'adequate', 'below'].filter(function (c) { return isNum(p['civics_' + c]) && p['civics_' + c] > 0; })
          .map(function (c) { return tv('class', c).split(' ')[0] + ' ' + fmtInt(p['civics_' + c]); }).join(', '));
        if (isNum(p.units)) add(t('tUnits'), fmtInt(p.units));
        if (isNum(p.served_share)) add(t('tServedShare'), fmtPct(p.served_share));
        if (isNum(p.white_area_addresses) && p.white_area_addresses > 0) add(t('tWhiteArea'), fmtInt(p.white_area_addresses) + ' ' + t('tAddresses').toLowerCase());
        if (p.synthetic) add(t('tSynthetic'), t('yes'));
        break;
      }
      add(t('tAddress'), p.label || [p.street, p.number].filter(Boolean).join(' '));
      add(t('tWhere'), p.hamlet);
      if (p.class) add(t('tClass'), tv('class', p.class));
      var down = isNum(p.max_download_mbps) ? p.max_download_mbps : p.max_down_mbps;
      var up = isNum(p.max_upload_mbps) ? p.max_upload_mbps : p.max_up_mbps;
      add(t('tTech'), [p.technology === 'unknown' ? '' : p.technology, isNum(down) ? fmtMbps(down) + (isNum(up) ? '/' + fmtMbps(up) : '') + ' Mbit/s' : ''].filter(Boolean).join(' '));
      if (p.state) add(t('tSince'), tv('rollout', p.state) + (p.state_since ? ' ' + t('stateSince', fmtDate(p.state_since)).trim() : ''));
      if (p.operator) add(t('tOperator'), p.operator);
      if (isNum(p.units)) add(t('tUnits'), fmtNum(p.units, 0));
      if (p.white_area !== undefined) add(t('tWhiteArea'), p.white_area ? t('yes') : t('no'));
      if (p.synthetic) add(t('tSynthetic'), t('yes'));
      break;
    case 'white-areas':
      if (p.cluster === true) {
        add(t('tWhiteCluster'), fmtInt(p.addresses) + (p.comune ? ' · ' + comuneName(p.comune) : ''));
        if (isNum(p.units)) add(t('tUnits'), fmtInt(p.units));
        if (p.synthetic) add(t('tSynthetic'), t('yes'));
        break;
      }
      add(t('tWhiteArea'), p.label || p.name || p.hamlet || featureName(f));
      if (p.area_class) add(t('tAreaClass'), tv('area', p.area_class));
      if (isNum(p.addresses)) add(t('tAddresses'), fmtNum(p.addresses, 0) + (isNum(p.units) ? ' (' + t('tUnits').toLowerCase() + ' ' + fmtNum(p.units, 0) + ')' : ''));
      if (isNum(p.units_share)) add(t('tWhiteShare'), fmtNum(p.units_share * 100, 1) + ' %');
      if (p.synthetic) add(t('tSynthetic'), t('yes'));
      break;
    case 'comune':
      add(t('tComune'), p.name);
      add(t('tISTAT'), p.istat_code);
      if (isNum(p.area_km2)) add(t('tArea'), fmtNum(p.area_km2, 2) + ' km²');
      var cf = p.comune && state.bySlug[p.comune];
      if (cf) {
        add(t('tAddresses'), fmtInt(cf.civics) + ' (' + t('tUnits').toLowerCase() + ' ' + fmtInt(cf.units) + ')');
        add(t('tServedShare'), fmtPct(cf.served_share));
        add(t('tFTTHShare'), fmtPct(cf.ftth_ready_share));
        add(t('tWhiteLeft'), fmtInt(cf.white_area_left_units) + ' ' + t('tUnits').toLowerCase());
        if (cf.sites) add(t('tSitesUp'), cf.sites_up + '/' + cf.sites);
        if (cf.synthetic) add(t('tSynthetic'), t('yes'));
      }
      break;
    default:
      add(layer, featureName(f));
    }
    if (!rows.length) add(t('layer.' + layer), featureName(f));
    return rows;
  }

  function titleText(layer, f) {
    var rows = tooltipRows(layer, f);
    return rows.map(function (r, i) { return i === 0 ? r[1] : r[0] + ': ' + r[1]; }).join('\n');
  }

  function register(layer, f, elem, lonlat) {
    var fid = state.nextFid++;
    state.features[fid] = { layer: layer, feature: f };
    elem.setAttribute('data-fid', fid);
    if (lonlat) {
      elem.setAttribute('data-lon', lonlat[0]);
      elem.setAttribute('data-lat', lonlat[1]);
    }
    elem.insertBefore(sv('title', { text: titleText(layer, f) }), elem.firstChild);
    return elem;
  }

  // pointMarker draws a marker whose size stays constant on screen: the
  // .sym group is scaled by --u (metres per pixel) in the stylesheet.
  function pointMarker(cls, x, y, shapes, focusable, label) {
    var sym = sv('g', { class: 'sym' }, shapes);
    var g = sv('g', {
      class: 'pt ' + cls, transform: 'translate(' + x.toFixed(1) + ' ' + y.toFixed(1) + ')',
      tabindex: focusable ? '0' : null, role: focusable ? 'button' : null,
      'aria-label': focusable ? label : null
    }, sym);
    return g;
  }

  // binOf returns the choropleth bin of share v, or 'none'.
  function binOf(v) {
    if (!isNum(v)) return 'none';
    for (var i = BINS.length - 1; i >= 0; i--) if (v >= BINS[i]) return String(i);
    return '0';
  }

  // drawComune draws the comune shown or, for the consortium, every
  // comune coloured by its figures, each a button that opens it.
  function drawComune(g, feats) {
    var labels = groups['comune-labels'];
    feats.forEach(function (f) {
      var d = polygonD(f.geometry);
      if (!d) return;
      var p = props(f);
      if (state.scope || !p.comune) {
        g.appendChild(register('comune', f, sv('g', { class: 'comune' }, sv('path', { d: d, 'fill-rule': 'evenodd' }))));
        return;
      }
      var cf = state.bySlug[p.comune];
      var v = cf ? cf[state.measure] : undefined;
      var m = sv('g', {
        class: 'comune member bin-' + binOf(v), tabindex: '0', role: 'button',
        'data-comune': p.comune, 'data-share': isNum(v) ? v : null,
        'aria-label': t('openComune', p.name || p.comune) + (isNum(v) ? ' — ' + t('measure.' + state.measure) + ' ' + fmtPct(v) : '')
      }, sv('path', { d: d, 'fill-rule': 'evenodd' }));
      g.appendChild(register('comune', f, m));
      var c = centroidOf(f.geometry);
      var bb = bboxOf([f]);
      if (c && bb) {
        var xy = project(c[0], c[1]);
        var lm = pointMarker('comune-label', xy[0], xy[1], sv('text', { class: 'label', 'text-anchor': 'middle', y: 4, text: p.name || p.comune }), false);
        // Shown when the comune is wide enough on screen for its name.
        lm.setAttribute('data-width', (project(bb[2], bb[1])[0] - project(bb[0], bb[1])[0]).toFixed(0));
        lm.setAttribute('data-chars', String(p.name || p.comune).length);
        labels.appendChild(lm);
      }
    });
  }

  function drawHamlets(g, feats) {
    var labels = groups['hamlet-labels'];
    var pointNames = {};
    feats.forEach(function (f) { if (pointsOf(f.geometry).length) pointNames[props(f).name] = true; });
    // zones first, then uncertainty circles, then centres and labels
    feats.forEach(function (f) {
      var d = polygonD(f.geometry);
      if (!d) return;
      var zone = sv('g', { class: 'hamlet-zone' }, sv('path', { d: d, 'fill-rule': 'evenodd' }));
      var c = centroidOf(f.geometry);
      if (c && !pointNames[props(f).name]) {
        var p = project(c[0], c[1]);
        labels.appendChild(pointMarker('zone-label', p[0], p[1], sv('text', { class: 'label', 'text-anchor': 'middle', y: 4, text: featureName(f) }), false));
      }
      g.appendChild(register('hamlets', f, zone));
    });
    feats.forEach(function (f) {
      var p = props(f);
      if (p.coord_status && p.coord_status !== 'sourced' && isNum(p.coord_uncertainty_m)) {
        pointsOf(f.geometry).forEach(function (c) {
          var xy = project(c[0], c[1]);
          g.appendChild(sv('circle', { class: 'uncertainty', cx: xy[0].toFixed(1), cy: xy[1].toFixed(1), r: p.coord_uncertainty_m, 'aria-hidden': 'true' }));
        });
      }
    });
    feats.forEach(function (f) {
      var p = props(f);
      pointsOf(f.geometry).forEach(function (c) {
        var xy = project(c[0], c[1]);
        var m = pointMarker('hamlet' + (p.seat ? ' seat' : ''), xy[0], xy[1], sv('circle', { r: p.seat ? 5 : 4 }), true, featureName(f));
        g.appendChild(register('hamlets', f, m, c));
        // The label goes in a group above the addresses and sites, so
        // that they do not hide it.
        labels.appendChild(pointMarker('hamlet-label' + (p.seat ? ' seat' : ''), xy[0], xy[1],
          sv('text', { class: 'label', x: 8, y: -7, text: hamletLabel(p) }), false));
      });
    });
  }

  function addressColor(p) {
    return safeColor(p.fill_color, CLASS_COLORS[p.class] || '#757575');
  }

  // clusterMarker draws a cluster of n civics: its size grows with n.
  function clusterMarker(cls, xy, n, shape, f, label, k) {
    var r = (cls === 'cluster' ? 6 : 4) + (k || 1.8) * Math.log2(Math.max(n, 1));
    var txt = n >= 10000 ? fmtNum(n / 1000, 0) + 'k' : (n >= 1000 ? fmtNum(n / 1000, 1) + 'k' : String(n));
    var m = pointMarker(cls, xy[0], xy[1], [shape(r), sv('text', { y: 3.5, 'text-anchor': 'middle', text: txt })], true, label + ': ' + fmtInt(n));
    var b = f.bbox;
    if (Array.isArray(b) && b.length >= 4) m.setAttribute('data-bbox', b.slice(0, 4).join(','));
    m.setAttribute('data-count', n);
    return m;
  }

  function drawAddresses(g, feats) {
    var focusable = feats.length <= 150;
    feats.forEach(function (f) {
      var p = props(f);
      if (p.cluster === true) {
        pointsOf(f.geometry).forEach(function (c) {
          var m = clusterMarker('cluster', project(c[0], c[1]), p.addresses, function (r) {
            return sv('circle', { r: r.toFixed(1), fill: addressColor(p) });
          }, f, t('tCluster'));
          m.setAttribute('data-class', p.class || '');
          if (!focusable) m.removeAttribute('tabindex');
          g.appendChild(register('addresses', f, m));
        });
        return;
      }
      pointsOf(f.geometry).forEach(function (c) {
        var xy = project(c[0], c[1]);
        var m = pointMarker('address', xy[0], xy[1], sv('circle', { r: 3.5, fill: addressColor(p) }), focusable, featureName(f));
        m.setAttribute('data-class', p.class || '');
        g.appendChild(register('addresses', f, m, c));
      });
      var d = polygonD(f.geometry);
      if (d) g.appendChild(register('addresses', f, sv('g', { class: 'address-area' }, sv('path', { d: d, fill: addressColor(p) }))));
    });
  }

  function drawWhiteAreas(g, feats) {
    var n = feats.reduce(function (a, f) { return a + pointsOf(f.geometry).length; }, 0);
    var focusable = n <= 150;
    feats.forEach(function (f) {
      var p = props(f);
      if (p.cluster === true) {
        pointsOf(f.geometry).forEach(function (c) {
          var m = clusterMarker('white-cluster', project(c[0], c[1]), p.addresses, function (r) {
            return sv('rect', { x: (-r).toFixed(1), y: (-r).toFixed(1), width: (2 * r).toFixed(1), height: (2 * r).toFixed(1), rx: 2 });
          }, f, t('tWhiteCluster'), 1.1);
          if (!focusable) m.removeAttribute('tabindex');
          g.appendChild(register('white-areas', f, m));
        });
        return;
      }
      var d = polygonD(f.geometry);
      if (d) g.appendChild(register('white-areas', f, sv('g', { class: 'white-area' }, sv('path', { d: d, 'fill-rule': 'evenodd' }))));
      linesOf(f.geometry).forEach(function (line) {
        var ld = ringPath(line).replace(/Z$/, '');
        if (ld) g.appendChild(register('white-areas', f, sv('g', { class: 'white-area line' }, sv('path', { d: ld }))));
      });
      pointsOf(f.geometry).forEach(function (c) {
        var xy = project(c[0], c[1]);
        var m = pointMarker('white-point', xy[0], xy[1], sv('rect', { x: -4.5, y: -4.5, width: 9, height: 9 }), focusable, featureName(f));
        g.appendChild(register('white-areas', f, m, c));
      });
    });
  }

  var STATE_GLYPH = { up: '✓', down: '✕', silent: '…', unknown: '?' };

  function drawSites(g, feats) {
    feats.forEach(function (f) {
      var p = props(f);
      var st = STATE_COLORS[p.state] ? p.state : 'unknown';
      var color = safeColor(p.marker_color, STATE_COLORS[st]);
      pointsOf(f.geometry).forEach(function (c) {
        var xy = project(c[0], c[1]);
        var m = pointMarker('site', xy[0], xy[1], [
          sv('rect', { x: -8, y: -8, width: 16, height: 16, rx: 2, transform: 'rotate(45)', fill: color }),
          sv('text', { class: 'glyph', y: 4, 'text-anchor': 'middle', text: STATE_GLYPH[st], 'aria-hidden': 'true' })
        ], true, (p.name || p.site_id || '') + ' — ' + tv('state', st));
        m.setAttribute('data-state', st);
        m.setAttribute('data-site-id', p.site_id || '');
        if (p.synthetic) m.setAttribute('data-synthetic', 'true');
        g.appendChild(register('sites', f, m, c));
      });
    });
  }

  var DRAW = { comune: drawComune, hamlets: drawHamlets, 'white-areas': drawWhiteAreas, addresses: drawAddresses, sites: drawSites };

  // drawLayer draws one layer anew; the features of the others keep their
  // elements and fids.
  function drawLayer(name) {
    var g = groups[name];
    g.replaceChildren();
    Object.keys(state.features).forEach(function (fid) {
      if (state.features[fid].layer === name) delete state.features[fid];
    });
    if (tipFid !== null && !state.features[tipFid]) hideTooltip();
    if (name === 'hamlets') groups['hamlet-labels'].replaceChildren();
    if (name === 'comune') groups['comune-labels'].replaceChildren();
    var st = state.layers[name];
    g.setAttribute('data-status', st ? st.status : 'loading');
    if (st && st.url) g.setAttribute('data-src', st.url);
    else g.removeAttribute('data-src');
    g.setAttribute('data-clustered', st && st.clustered ? 'true' : 'false');
    if (st && st.status === 'ok') DRAW[name](g, st.features);
    g.setAttribute('data-count', g.querySelectorAll('[data-fid]').length);
    applyLayerVisibility(name);
  }

  function drawAll() {
    state.features = {};
    DATA_LAYERS.forEach(drawLayer);
    fitLabels();
    drawHighlight();
    updateBadge();
  }

  function layerVisible(name) {
    var box = $('#layer-' + name);
    return !box || box.checked;
  }

  function applyLayerVisibility(name) {
    var gs = [groups[name]];
    if (name === 'hamlets') gs.push(groups['hamlet-labels']);
    if (name === 'comune') gs.push(groups['comune-labels']);
    gs.forEach(function (g) {
      if (!g) return;
      if (layerVisible(name)) g.removeAttribute('display');
      else g.setAttribute('display', 'none');
    });
  }

  function updateBadge() {
    var any = DATA_LAYERS.some(function (name) {
      var st = state.layers[name];
      return layerVisible(name) && st && st.status === 'ok' && st.features.some(function (f) { return props(f).synthetic === true; });
    });
    // The consortium's colours come from the comuni's figures.
    if (state.scope === '' && layerVisible('comune') && state.comuni) {
      any = any || state.comuni.comuni.some(function (c) { return c.synthetic === true; });
    }
    $('#synthetic-badge').hidden = !any;
  }

  // ---------------------------------------------------------------------
  // The highlighted point of an answer.

  var highlights = [];

  function setHighlights(list, focus) {
    highlights = list.filter(function (h) { return isNum(h.lon) && isNum(h.lat); });
    drawHighlight();
    if (focus && highlights.length && proj) {
      var xy = project(highlights[0].lon, highlights[0].lat);
      ensureVisible(xy[0], xy[1]);
    }
  }

  function drawHighlight() {
    var g = groups.highlight;
    g.replaceChildren();
    if (!proj) return;
    highlights.forEach(function (h, i) {
      var xy = project(h.lon, h.lat);
      var m = pointMarker('highlight ' + (h.kind || ''), xy[0], xy[1], [
        sv('circle', { class: 'halo', r: 13 }),
        sv('circle', { class: 'ring', r: 13 }),
        sv('circle', { class: 'dot', r: 2.5 }),
        h.label ? sv('text', { class: 'label', x: 17, y: 4, text: h.label }) : null
      ], false);
      m.setAttribute('data-highlight', h.kind || 'point');
      m.setAttribute('data-index', i);
      m.appendChild(sv('title', { text: h.label || '' }));
      g.appendChild(m);
    });
  }

  // ---------------------------------------------------------------------
  // Tooltip.

  var tipFid = null;

  function showTooltip(fid, clientX, clientY) {
    var rec = state.features[fid];
    if (!rec) return;
    var rows = tooltipRows(rec.layer, rec.feature);
    tooltip.replaceChildren();
    tooltip.appendChild(el('strong', { text: rows.length ? rows[0][1] : '' }));
    if (rows.length > 1) {
      var dl = el('dl');
      rows.slice(1).forEach(function (r) { dl.appendChild(el('dt', { text: r[0] })); dl.appendChild(el('dd', { text: r[1] })); });
      tooltip.appendChild(dl);
    }
    var rp = props(rec.feature);
    var hint = rec.layer === 'comune' ? (state.scope ? '' : t('tOpenComune')) : (rp.cluster === true ? t('tZoomHint') : t('tClickHint'));
    if (hint) tooltip.appendChild(el('p', { class: 'tip-hint', text: hint }));
    tooltip.setAttribute('data-layer', rec.layer);
    tooltip.hidden = false;
    tipFid = fid;
    var mr = mapEl.getBoundingClientRect();
    var tw = tooltip.offsetWidth, th = tooltip.offsetHeight;
    var x = clientX - mr.left + 14, y = clientY - mr.top + 14;
    if (x + tw > mr.width - 4) x = Math.max(4, clientX - mr.left - tw - 14);
    if (y + th > mr.height - 4) y = Math.max(4, clientY - mr.top - th - 14);
    tooltip.style.left = x + 'px';
    tooltip.style.top = y + 'px';
  }

  function hideTooltip() {
    tooltip.hidden = true;
    tipFid = null;
  }

  function featureElement(target) {
    var e = target && target.closest ? target.closest('[data-fid]') : null;
    return e && svg.contains(e) ? e : null;
  }

  // ---------------------------------------------------------------------
  // The answer.

  // queryCoverage asks GET coverage; an exact answer in another comune
  // than the one shown opens that comune (and says so in the URL).
  function queryCoverage(params, label) {
    var seq = ++state.querySeq;
    var qs = params.toString();
    state.answer = { kind: 'loading', query: qs };
    renderAnswer();
    return getJSON(API + '/coverage?' + qs).then(function (r) {
      if (seq !== state.querySeq) return;
      if (r.ok && r.body && typeof r.body === 'object') {
        state.answer = { kind: 'answer', query: qs, body: r.body };
      } else {
        state.answer = { kind: 'error', query: qs, status: r.status, body: r.body };
      }
      state.answer.label = label;
      var a = state.answer.body || {};
      var slug = a.comune && typeof a.comune.slug === 'string' ? a.comune.slug : '';
      if (state.answer.kind === 'answer' && a.match === 'exact' && slug && slug !== state.scope && state.bySlug[slug]) {
        var n = copyNav(nav);
        n.comune = slug;
        setNav(n, false);
        renderAnswer(false);
        return loadScope(slug).then(function () {
          if (seq === state.querySeq) renderAnswer(true);
        });
      }
      renderAnswer(true);
    }, function () {
      if (seq !== state.querySeq) return;
      state.answer = { kind: 'error', query: qs, status: 0 };
      renderAnswer(true);
    });
  }

  // queryPoint asks the coverage at a point; push: record it in the URL
  // and the history.
  function queryPoint(lon, lat, push) {
    if (!isNum(lon) || !isNum(lat)) return;
    var p = new URLSearchParams();
    p.set('lat', lat.toFixed(6));
    p.set('lon', lon.toFixed(6));
    if (push !== false) {
      var n = copyNav(nav);
      n.address = '';
      n.lat = +lat.toFixed(6);
      n.lon = +lon.toFixed(6);
      setNav(n, true);
    }
    setHighlights([{ lon: lon, lat: lat, kind: 'query' }], false);
    queryCoverage(p);
  }

  // queryAddress looks q up in the comune shown, or in every comune.
  function queryAddress(q, push) {
    var p = new URLSearchParams();
    p.set('address', q);
    if (state.scope) p.set('comune', state.scope);
    if (push !== false) {
      var n = copyNav(nav);
      n.address = q;
      n.lat = n.lon = null;
      setNav(n, true);
    }
    queryCoverage(p);
  }

  function speedsText(d, u) {
    if (!isNum(d)) return '';
    return t('speedsUpTo', fmtMbps(d), isNum(u) ? fmtMbps(u) : '');
  }

  // verdictOf returns the one-line verdict and a tone for an answer with an
  // address (match exact or nearest).
  function verdictOf(a) {
    var tech = (a.technology || '').toUpperCase();
    var st = a.state || (a.served === false ? 'none' : 'active');
    var served = typeof a.served === 'boolean' ? a.served : (st === 'active' || st === 'ready_for_sale');
    var speeds = speedsText(a.max_download_mbps, a.max_upload_mbps);
    if (!tech || tech === 'NONE' || tech === 'UNKNOWN') return { text: t('verdictNone'), tone: 'none' };
    if (!served) {
      return { text: t('verdictNotYet', tech, tv('rollout', st), a.state_since ? t('stateSince', fmtDate(a.state_since)) : ''), tone: 'none' };
    }
    var since = a.state_since ? t(st === 'ready_for_sale' ? 'orderableSince' : 'activeSince', fmtDate(a.state_since)) : '';
    if (COVERED[tech]) {
      var words = I18N[lang].techCovered[tech] || tech;
      return { text: t('verdictCovered', words, speeds, since), tone: FIBRE[tech] ? 'fibre' : 'partial' };
    }
    return { text: t('verdictCopperOnly', tech, speeds), tone: 'none' };
  }

  function placeOf(addr) {
    if (!addr) return '';
    var label = addr.label || [addr.street, addr.number].filter(Boolean).join(' ');
    var suffix = ', ' + addr.hamlet;
    if (addr.hamlet && label !== addr.hamlet && label.slice(-suffix.length) !== suffix) label += suffix;
    return label;
  }

  function detailsList(a) {
    var dl = el('dl', { class: 'answer-details' });
    var add = function (k, v, attr) {
      if (v === undefined || v === null || v === '') return;
      var dd = el('dd', { text: v });
      if (attr) dd.setAttribute('data-field', attr);
      dl.appendChild(el('dt', { text: k }));
      dl.appendChild(dd);
    };
    if (a.class) add(t('dClass'), tv('class', a.class), 'class');
    if (a.white_area !== undefined || a.area_class) {
      var cls = a.area_class ? tv('area', a.area_class) : '';
      add(t('dWhite'), a.white_area ? t('dWhiteYes', cls) : t('dWhiteNo', cls), 'white_area');
    }
    if (a.technology) add(t('dTech'), a.technology, 'technology');
    if (isNum(a.max_download_mbps)) add(t('dSpeed'), fmtMbps(a.max_download_mbps) + (isNum(a.max_upload_mbps) ? '/' + fmtMbps(a.max_upload_mbps) : '') + ' Mbit/s', 'speed');
    if (a.state) add(t('dState'), tv('rollout', a.state) + (a.state_since ? t('stateSince', fmtDate(a.state_since)) : ''), 'state');
    if (a.operator) add(t('dOperator'), a.operator, 'operator');
    if (a.address && isNum(a.address.units)) add(t('dUnits'), fmtNum(a.address.units, 0), 'units');
    if (a.address && isNum(a.address.lat) && isNum(a.address.lon)) add(t('dCoords'), a.address.lat.toFixed(5) + ', ' + a.address.lon.toFixed(5), 'coords');
    return dl.children.length ? dl : null;
  }

  function probesSection(list) {
    var sec = el('section', { class: 'probes', 'aria-label': t('probesTitle') }, el('h3', { text: t('probesTitle') }));
    if (!Array.isArray(list) || !list.length) {
      sec.appendChild(el('p', { text: t('probesNone') }));
      return sec;
    }
    var ul = el('ul', { class: 'probe-list' });
    list.forEach(function (p) {
      var st = STATE_COLORS[p.state] ? p.state : 'unknown';
      var head = el('p', { class: 'probe-head' }, [
        el('span', { class: 'state-dot state-' + st, 'aria-hidden': 'true' }),
        el('strong', { text: p.name || p.site_id || '' }),
        ' · ' + [isNum(p.distance_m) ? t('probeDistance', fmtDist(p.distance_m)) : '', p.technology, tv('state', st),
          p.synthetic ? t('probeSynthetic') : '', p.emulated ? t('probeEmulated') : ''].filter(Boolean).join(' · ')
      ]);
      var facts = [];
      if (isNum(p.download_mbps) || isNum(p.upload_mbps)) {
        facts.push(t('probeSpeeds', isNum(p.download_mbps) ? fmtMbps(p.download_mbps) : '–', isNum(p.upload_mbps) ? fmtMbps(p.upload_mbps) : '–'));
      } else {
        facts.push(t('probeNoData'));
      }
      if (isNum(p.rtt_ms)) facts.push(t('probeRTT', fmtNum(p.rtt_ms, 1)));
      if (p.measured_at) facts.push(t('probeMeasured', fmtTime(p.measured_at)));
      ul.appendChild(el('li', { 'data-site-id': p.site_id || '' }, [head, el('p', { class: 'probe-facts', text: facts.join(' · ') })]));
    });
    sec.appendChild(ul);
    return sec;
  }

  function errorText(ans) {
    var b = ans.body || {};
    var msg = typeof b.error === 'string' ? b.error : '';
    if (ans.status === 0) return t('errNetwork');
    if (ans.status === 404) return b.field ? t('errNotFound', msg) : t('errNoLookup', msg);
    if (ans.status >= 400 && ans.status < 500) return t('errInvalid', msg);
    return t('errServer', ans.status);
  }

  function renderAnswer(fresh) {
    var panel = $('#answer');
    var verdict = $('#answer-verdict');
    var body = $('#answer-body');
    var ans = state.answer;
    verdict.replaceChildren();
    body.replaceChildren();
    panel.setAttribute('data-state', ans.kind);
    panel.setAttribute('data-query', ans.query || '');
    panel.removeAttribute('data-match');
    panel.removeAttribute('data-tone');
    panel.setAttribute('aria-busy', ans.kind === 'loading' ? 'true' : 'false');

    if (ans.kind === 'empty') {
      verdict.textContent = t('answerEmpty');
      return;
    }
    if (ans.kind === 'loading') {
      verdict.textContent = t('loading');
      return;
    }
    if (ans.kind === 'input') {
      verdict.textContent = t('searchEmpty');
      panel.setAttribute('data-tone', 'error');
      return;
    }
    if (ans.kind === 'error') {
      verdict.textContent = errorText(ans);
      panel.setAttribute('data-tone', 'error');
      return;
    }

    var a = ans.body;
    var match = a.match || (a.address ? 'exact' : 'outside');
    panel.setAttribute('data-match', match);
    var q = a.query || {};
    var hl = [];

    if (match === 'outside') {
      verdict.appendChild(el('strong', { text: t('verdictOutside') }));
      panel.setAttribute('data-tone', 'outside');
      if (isNum(q.lat) && isNum(q.lon)) hl.push({ lon: q.lon, lat: q.lat, kind: 'query' });
    } else if (match === 'ambiguous') {
      verdict.appendChild(el('strong', { text: t('verdictAmbiguous', q.address || '') }));
      panel.setAttribute('data-tone', 'ambiguous');
      var ul = el('ul', { class: 'candidates', 'aria-label': t('candidatesLabel') });
      var several = {};
      (a.candidates || []).forEach(function (c) { several[c.comune || ''] = true; });
      var named = Object.keys(several).length > 1 || !state.scope;
      (a.candidates || []).forEach(function (c, i) {
        var text = placeOf(c) || String(c.label || '');
        if (named && c.comune_name && text.indexOf(c.comune_name) < 0) text += ' — ' + c.comune_name;
        var btn = el('button', { type: 'button', class: 'candidate', 'data-index': i, 'data-comune': c.comune || '', text: text });
        btn.addEventListener('click', function () {
          var open = c.comune && c.comune !== state.scope && state.bySlug[c.comune] ? c.comune : '';
          var point = isNum(c.lat) && isNum(c.lon);
          if (!open) {
            if (point) queryPoint(c.lon, c.lat);
            else queryAddress(c.label || text);
            return;
          }
          // One step in the history: the comune and the candidate.
          var n = copyNav(nav);
          n.comune = open;
          n.address = point ? '' : (c.label || text);
          n.lat = point ? +c.lat.toFixed(6) : null;
          n.lon = point ? +c.lon.toFixed(6) : null;
          setNav(n, true);
          loadScope(open).then(function () {
            if (point) queryPoint(c.lon, c.lat, false);
            else queryAddress(n.address, false);
          });
        });
        ul.appendChild(el('li', null, btn));
        hl.push({ lon: c.lon, lat: c.lat, kind: 'candidate', label: String(i + 1) });
      });
      body.appendChild(ul);
    } else {
      var v = verdictOf(a);
      panel.setAttribute('data-tone', v.tone);
      verdict.appendChild(el('strong', { class: 'verdict-text', text: v.text }));
      var place = placeOf(a.address);
      if (place) verdict.appendChild(el('span', { class: 'verdict-place', text: ' — ' + place }));
      if (match === 'nearest' && a.address) {
        body.appendChild(el('p', { class: 'nearest-note', text: t('nearestLine', place, isNum(a.distance_m) ? fmtDist(a.distance_m) : '') }));
      }
      var dl = detailsList(a);
      if (dl) body.appendChild(dl);
      body.appendChild(probesSection(a.nearest_probes));
      if (a.address) hl.push({ lon: a.address.lon, lat: a.address.lat, kind: 'address', label: a.address.label || '' });
      if (match === 'nearest' && isNum(q.lat) && isNum(q.lon)) hl.push({ lon: q.lon, lat: q.lat, kind: 'query' });
    }
    if (a.synthetic === true || (a.address && a.address.synthetic === true)) {
      body.appendChild(el('p', { class: 'synthetic-warning', role: 'note', id: 'answer-synthetic', text: t('syntheticWarning') }));
    }
    if (a.message) body.appendChild(el('p', { class: 'service-note', text: t('serviceNote', String(a.message)) }));
    setHighlights(hl, fresh);
  }

  // ---------------------------------------------------------------------
  // Legend.

  function swatch(children) {
    return sv('svg', { class: 'swatch', width: 22, height: 16, viewBox: '-11 -8 22 16', 'aria-hidden': 'true' }, children);
  }

  function buildLegend() {
    var list = $('#legend-list');
    list.replaceChildren();
    var group = function (title, items) {
      var ul = el('ul');
      items.forEach(function (it) { ul.appendChild(el('li', null, [swatch(it[0]), el('span', { text: it[1] })])); });
      list.appendChild(el('li', { class: 'legend-group' }, [el('span', { class: 'legend-group-title', text: title }), ul]));
    };
    if (state.scope === '') {
      var colors = ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#3182bd'];
      var items = BINS.map(function (lo, i) {
        var hi = BINS[i + 1];
        var text = i === 0 ? '< ' + fmtPct(hi) : (hi === undefined ? '≥ ' + fmtPct(lo) : fmtPct(lo).replace(' %', '') + '–' + fmtPct(hi));
        return [sv('rect', { x: -10, y: -7, width: 20, height: 14, fill: colors[i], stroke: '#263238' }), text];
      });
      items.push([sv('rect', { x: -10, y: -7, width: 20, height: 14, fill: '#eeeeee', stroke: '#263238' }), t('legendNoFigures')]);
      group(t('legendChoropleth', t('measure.' + state.measure)), items);
    }
    group(t('legendAddresses'), ['vhcn', 'nga', 'adequate', 'below'].map(function (c) {
      return [sv('circle', { r: 5, fill: CLASS_COLORS[c], stroke: '#fff', 'stroke-width': 1.5 }), tv('class', c)];
    }));
    group(t('legendSites'), ['up', 'down', 'silent', 'unknown'].map(function (s) {
      return [[sv('rect', { x: -5, y: -5, width: 10, height: 10, rx: 1.5, transform: 'rotate(45)', fill: STATE_COLORS[s], stroke: '#fff', 'stroke-width': 1.5 }),
        sv('text', { y: 3, 'text-anchor': 'middle', 'font-size': 8, fill: '#fff', 'font-weight': 700, text: STATE_GLYPH[s] })], tv('state', s)];
    }));
    group(t('legendOther'), [
      [sv('rect', { x: -10, y: -7, width: 20, height: 14, fill: 'url(#hatch-legend)', stroke: '#5d4037', 'stroke-dasharray': '3 2' }), t('legendWhite')],
      [[sv('circle', { r: 8, fill: CLASS_COLORS.vhcn, stroke: '#fff', 'stroke-width': 1.5 }), sv('text', { y: 3, 'text-anchor': 'middle', 'font-size': 8, fill: '#fff', 'font-weight': 700, text: '42' })], t('legendCluster')],
      [[sv('rect', { x: -8, y: -8, width: 16, height: 16, rx: 2, fill: 'url(#hatch-legend)', stroke: '#5d4037' })], t('legendWhiteCluster')],
      [sv('rect', { x: -10, y: -7, width: 20, height: 14, fill: '#eef3f8', stroke: '#263238', 'stroke-width': 2 }), t('legendComune')],
      [[sv('circle', { r: 4, fill: '#263238', stroke: '#fff', 'stroke-width': 1.5 })], t('legendHamlet')],
      [sv('circle', { r: 6.5, fill: 'none', stroke: '#455a64', 'stroke-dasharray': '2 2' }), t('legendEstimated')],
      [[sv('circle', { r: 6.5, fill: 'none', stroke: '#6a1b9a', 'stroke-width': 2.5 }), sv('circle', { r: 1.8, fill: '#6a1b9a' })], t('legendHighlight')]
    ]);
  }

  // ---------------------------------------------------------------------
  // Controls.

  // activate opens the comune of a consortium's polygon, or zooms into a
  // cluster; it reports whether fe was one of them.
  function activate(fe) {
    if (!fe) return false;
    if (fe.hasAttribute('data-comune') && state.scope === '') {
      openComune(fe.getAttribute('data-comune'));
      return true;
    }
    if (fe.hasAttribute('data-bbox')) {
      hideTooltip();
      zoomToBBox(fe.getAttribute('data-bbox').split(',').map(Number));
      return true;
    }
    return false;
  }

  // openComune shows comune slug ('' the consortium), as a new step in the
  // history.
  function openComune(slug) {
    if (slug === state.scope) return;
    hideTooltip();
    $('#place-note').textContent = '';
    var n = { comune: slug, address: '', lat: null, lon: null, view: nav.view };
    setNav(n, true);
    state.querySeq++;
    state.answer = { kind: 'empty' };
    setHighlights([], false);
    renderAnswer();
    loadScope(slug);
  }

  function setupControls() {
    $('#lang-toggle').addEventListener('click', function () { setLang(lang === 'it' ? 'en' : 'it'); });
    $('#comune-select').addEventListener('change', function () { openComune($('#comune-select').value); });
    $('#back-consortium').addEventListener('click', function () { openComune(''); });
    $('#choropleth-measure').addEventListener('change', function () {
      state.measure = $('#choropleth-measure').value === 'ftth_ready_share' ? 'ftth_ready_share' : 'served_share';
      buildLegend();
      if (proj) drawAll();
    });
    $$('[role="tab"]').forEach(function (tab) {
      tab.addEventListener('click', function () {
        var v = tab.getAttribute('data-view');
        if (v === nav.view) return;
        var n = copyNav(nav);
        n.view = v;
        setNav(n, true);
        showView(v);
      });
      tab.addEventListener('keydown', function (e) {
        if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
        e.preventDefault();
        var other = $('[role="tab"][data-view="' + (tab.getAttribute('data-view') === 'map' ? 'table' : 'map') + '"]');
        other.focus();
        other.click();
      });
    });

    $('#search-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var q = $('#search-input').value.trim();
      if (!q) {
        state.answer = { kind: 'input' };
        renderAnswer();
        $('#search-input').focus();
        return;
      }
      queryAddress(q);
    });

    $$('[data-layer-toggle]').forEach(function (box) {
      box.addEventListener('change', function () {
        var name = box.getAttribute('data-layer-toggle');
        if (name === 'tiles') { drawTiles(); applyLayerVisibility('tiles'); return; }
        applyLayerVisibility(name);
        updateBadge();
        hideTooltip();
      });
    });

    $('#zoom-in').addEventListener('click', function () { zoomAt(1.6); });
    $('#zoom-out').addEventListener('click', function () { zoomAt(1 / 1.6); });
    $('#zoom-reset').addEventListener('click', function () { if (proj) fitView(); });

    svg.addEventListener('wheel', function (e) {
      if (!view) return;
      e.preventDefault();
      var dy = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      var f = Math.exp(-Math.max(Math.min(dy, 300), -300) * 0.0025);
      var p = clientToMap(e.clientX, e.clientY);
      zoomAt(f, p[0], p[1]);
    }, { passive: false });

    var drag = null;
    svg.addEventListener('pointerdown', function (e) {
      if (!view || (e.pointerType === 'mouse' && e.button !== 0)) return;
      drag = { id: e.pointerId, x: e.clientX, y: e.clientY, cx: view.cx, cy: view.cy, moved: false };
    });
    svg.addEventListener('pointermove', function (e) {
      if (drag && drag.id === e.pointerId) {
        var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (!drag.moved && Math.abs(dx) + Math.abs(dy) > 5) {
          drag.moved = true;
          try { svg.setPointerCapture(e.pointerId); } catch (err) { /* pointer gone */ }
          svg.classList.add('dragging');
          hideTooltip();
        }
        if (drag.moved) {
          view.fitted = false;
          view.cx = drag.cx - dx * view.s;
          view.cy = drag.cy - dy * view.s;
          applyView();
        }
        return;
      }
      if (e.pointerType === 'mouse') {
        var fe = featureElement(e.target);
        if (fe) showTooltip(+fe.getAttribute('data-fid'), e.clientX, e.clientY);
        else if (tipFid !== null) hideTooltip();
      }
    });
    var endDrag = function (e) {
      if (!drag || drag.id !== e.pointerId) return;
      var d = drag;
      drag = null;
      svg.classList.remove('dragging');
      if (e.type === 'pointerup' && !d.moved) {
        var fe = featureElement(e.target);
        if (activate(fe)) return;
        if (fe && fe.hasAttribute('data-lon')) {
          queryPoint(+fe.getAttribute('data-lon'), +fe.getAttribute('data-lat'));
        } else {
          var p = clientToMap(e.clientX, e.clientY);
          var ll = unproject(p[0], p[1]);
          queryPoint(ll[0], ll[1]);
        }
      }
    };
    svg.addEventListener('pointerup', endDrag);
    svg.addEventListener('pointercancel', endDrag);
    svg.addEventListener('pointerleave', function (e) { if (e.pointerType === 'mouse' && !drag) hideTooltip(); });

    svg.addEventListener('focusin', function (e) {
      var fe = featureElement(e.target);
      if (!fe) { hideTooltip(); return; }
      var r = fe.getBoundingClientRect();
      showTooltip(+fe.getAttribute('data-fid'), r.left + r.width / 2, r.top + r.height / 2);
    });
    svg.addEventListener('focusout', function () { hideTooltip(); });

    svg.addEventListener('keydown', function (e) {
      if (!view) return;
      var step = 60;
      var fe = featureElement(e.target);
      switch (e.key) {
      case 'Enter':
      case ' ':
        if (activate(fe)) {
          e.preventDefault();
          return;
        }
        if (fe && fe.hasAttribute('data-lon')) {
          e.preventDefault();
          queryPoint(+fe.getAttribute('data-lon'), +fe.getAttribute('data-lat'));
        }
        return;
      case 'ArrowLeft': panBy(-step, 0); break;
      case 'ArrowRight': panBy(step, 0); break;
      case 'ArrowUp': panBy(0, -step); break;
      case 'ArrowDown': panBy(0, step); break;
      case '+': case '=': zoomAt(1.6); break;
      case '-': case '_': zoomAt(1 / 1.6); break;
      case '0': fitView(); break;
      case 'Escape': hideTooltip(); return;
      default: return;
      }
      e.preventDefault();
    });

    if (window.ResizeObserver) {
      new ResizeObserver(onResize).observe(svg);
    } else {
      window.addEventListener('resize', onResize);
    }
  }

  // ---------------------------------------------------------------------
  // The URL: ?comune=<slug>&address=<text> (or &lat=&lon=)&view=table&lang=en.

  function copyNav(n) {
    return { comune: n.comune, address: n.address, lat: n.lat, lon: n.lon, view: n.view };
  }

  function readNav() {
    var q = new URLSearchParams(window.location.search);
    var num = function (k) { var v = parseFloat(q.get(k)); return isNum(v) ? v : null; };
    var n = {
      comune: (q.get('comune') || '').trim(), address: (q.get('address') || '').trim(),
      lat: num('lat'), lon: num('lon'), view: q.get('view') === 'table' ? 'table' : 'map'
    };
    if (n.address || n.lat === null || n.lon === null) n.lat = n.lon = null;
    return n;
  }

  function navURL(n) {
    var q = new URLSearchParams();
    if (n.comune) q.set('comune', n.comune);
    if (n.address) q.set('address', n.address);
    else if (isNum(n.lat) && isNum(n.lon)) {
      q.set('lat', n.lat.toFixed(6));
      q.set('lon', n.lon.toFixed(6));
    }
    if (n.view !== 'map') q.set('view', n.view);
    if (lang !== 'it') q.set('lang', lang);
    var qs = q.toString();
    return window.location.pathname + (qs ? '?' + qs : '') + window.location.hash;
  }

  // setNav makes n the page's state and URL: a new step in the history
  // (push) or in place of the current one.
  function setNav(n, push) {
    nav = copyNav(n);
    var url = navURL(nav);
    try {
      if (push && url !== window.location.pathname + window.location.search + window.location.hash) window.history.pushState(null, '', url);
      else window.history.replaceState(null, '', url);
    } catch (e) { /* a sandboxed page may refuse */ }
  }

  // resolveComune returns the slug of the comune that key names (a slug,
  // an ISTAT code or a name), or null.
  function resolveComune(key) {
    if (!key) return '';
    if (state.bySlug[key]) return key;
    var k = key.toLowerCase();
    var hit = state.comuni ? state.comuni.comuni.filter(function (c) {
      return c.slug && (c.istat_code === key || (c.name || '').toLowerCase() === k);
    })[0] : null;
    return hit ? hit.slug : null;
  }

  // applyNav shows what n says: its comune, view, and answer.
  function applyNav(n) {
    var slug = resolveComune(n.comune);
    var unknown = slug === null && state.comuni ? n.comune : '';
    n = copyNav(n);
    if (slug !== null) n.comune = slug;
    if (unknown) n.comune = '';
    setNav(n, false);
    showView(n.view);
    var p = state.scope === n.comune ? Promise.resolve() : loadScope(n.comune);
    $('#place-note').textContent = unknown ? t('unknownComune', unknown) : '';
    state.querySeq++;
    if (n.address) {
      $('#search-input').value = n.address;
      queryAddress(n.address, false);
    } else if (isNum(n.lat) && isNum(n.lon)) {
      p.then(function () { queryPoint(n.lon, n.lat, false); });
    } else {
      state.answer = { kind: 'empty' };
      setHighlights([], false);
      renderAnswer();
    }
    return p;
  }

  function showView(v) {
    $$('[role="tab"]').forEach(function (tab) {
      var on = tab.getAttribute('data-view') === v;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.setAttribute('tabindex', on ? '0' : '-1');
    });
    $('#map-view').hidden = v !== 'map';
    $('#table-view').hidden = v !== 'table';
    if (v === 'map') onResize();
    else loadRollout().then(renderTable);
    renderTable();
  }

  // ---------------------------------------------------------------------
  // The comuni and their figures.

  function loadComuni() {
    return getJSON(API + '/comuni').then(function (r) {
      if (!r.ok || !r.body || !Array.isArray(r.body.comuni)) return;
      state.comuni = r.body;
      state.bySlug = {};
      r.body.comuni.forEach(function (c) { if (c.slug) state.bySlug[c.slug] = c; });
      if (typeof r.body.attribution === 'string' && r.body.attribution) $('#map-attribution').textContent = r.body.attribution;
      fillComuneSelect();
    }, function () { /* the map goes on without the figures */ });
  }

  function fillComuneSelect() {
    var sel = $('#comune-select');
    var keep = state.scope || '';
    sel.replaceChildren(el('option', { value: '', text: t('allComuni') }));
    if (state.comuni) {
      state.comuni.comuni.filter(function (c) { return c.slug; }).slice()
        .sort(function (a, b) { return a.name.localeCompare(b.name, 'it'); })
        .forEach(function (c) { sel.appendChild(el('option', { value: c.slug, text: c.name })); });
    }
    sel.value = keep;
  }

  function loadRollout() {
    var slug = state.scope;
    if (!slug || (state.rollout && state.rollout.slug === slug)) return Promise.resolve();
    state.rollout = { slug: slug, status: 'loading' };
    return getJSON(API + '/rollout?comune=' + encodeURIComponent(slug)).then(function (r) {
      if (!state.rollout || state.rollout.slug !== slug) return;
      state.rollout = r.ok && r.body && Array.isArray(r.body.figures) ? { slug: slug, status: 'ok', body: r.body } : { slug: slug, status: 'error', code: r.status };
    }, function () {
      if (state.rollout && state.rollout.slug === slug) state.rollout = { slug: slug, status: 'error', code: 0 };
    });
  }

  function served(f) {
    var s = f.by_state || {};
    return ((s.active || {}).units || 0) + ((s.ready_for_sale || {}).units || 0);
  }

  function shareCell(v) {
    var bar = el('span', { class: 'share-bar', 'aria-hidden': 'true' }, el('span'));
    if (isNum(v)) bar.firstChild.style.width = Math.max(0, Math.min(100, v * 100)).toFixed(1) + '%';
    return el('td', null, [fmtPct(v), bar]);
  }

  // renderTable fills the figures view: per comune for the consortium,
  // per hamlet with the rollout timeline for a comune.
  function renderTable() {
    var box = $('#figures-table');
    var note = $('#table-note');
    box.replaceChildren();
    note.textContent = '';
    if (nav.view !== 'table') return;
    var head = function (cols) { return el('thead', null, el('tr', null, cols.map(function (c) { return el('th', { scope: 'col', text: c }); }))); };
    var num = function (v) { return el('td', { text: fmtInt(v) }); };
    if (!state.scope) {
      $('#table-title').textContent = t('tableTitleConsortium');
      if (!state.comuni) { note.textContent = t('tableFailed', '–'); return; }
      var tb = el('tbody');
      state.comuni.comuni.filter(function (c) { return c.slug; }).forEach(function (c) {
        var btn = el('button', { type: 'button', class: 'comune-link', 'data-comune': c.slug, text: c.name });
        btn.addEventListener('click', function () { openComune(c.slug); });
        tb.appendChild(el('tr', { 'data-comune': c.slug }, [el('th', { scope: 'row' }, btn), num(c.civics), num(c.units),
          shareCell(c.served_share), shareCell(c.ftth_ready_share), num(c.white_area_left_units),
          el('td', { text: c.sites ? c.sites_up + '/' + c.sites : '–' })]));
      });
      var tot = state.comuni.consortium;
      var foot = el('tfoot', null, el('tr', null, [el('td', { text: t('totalRow') }), num(tot.civics), num(tot.units),
        shareCell(tot.served_share), shareCell(tot.ftth_ready_share), num(tot.white_area_left_units), el('td', { text: tot.sites_up + '/' + tot.sites })]));
      box.appendChild(el('table', { class: 'figures', id: 'comuni-table' }, [
        head([t('thComune'), t('thCivics'), t('thUnits'), t('thServed'), t('thFTTH'), t('thWhiteLeft'), t('thSites')]), tb, foot]));
      if (tot.synthetic) note.textContent = t('tableSynthetic');
      return;
    }
    $('#table-title').textContent = t('tableTitleComune', comuneName(state.scope));
    var ro = state.rollout;
    if (!ro || ro.slug !== state.scope || ro.status === 'loading') { note.textContent = t('tableLoading'); return; }
    if (ro.status !== 'ok') { note.textContent = t('tableFailed', ro.code); return; }
    var rows = el('tbody');
    ro.body.figures.forEach(function (f) {
      var u = f.units || 0;
      var ftth = ((f.by_technology || {}).FTTH || {}).units;
      rows.appendChild(el('tr', { 'data-scope': f.scope }, [el('th', { scope: 'row', text: f.scope === 'comune' ? t('wholeComune') : f.scope }),
        num(f.addresses), num(u), shareCell(u ? served(f) / u : undefined), shareCell(u && isNum(ftth) ? ftth / u : undefined), shareCell(f.white_area_share)]));
    });
    box.appendChild(el('table', { class: 'figures', id: 'rollout-table' }, [
      head([t('thHamlet'), t('thCivics'), t('thUnits'), t('thServed'), t('thFTTH'), t('thWhite')]), rows]));
    box.appendChild(timelineChart(ro.body.timeline || []));
    if (ro.body.synthetic) note.textContent = t('tableSynthetic');
  }

  // timelineChart draws the share of units served (and reached by FTTH)
  // month by month.
  function timelineChart(tl) {
    var fig = el('figure', { class: 'timeline' });
    if (!tl.length) return fig;
    var W = 560, H = 140, L = 46, B = 22;
    var x = function (i) { return L + (tl.length > 1 ? i / (tl.length - 1) : 0) * (W - L - 6); };
    var y = function (v) { return 6 + (1 - Math.max(0, Math.min(1, v || 0))) * (H - B - 6); };
    var area = 'M' + x(0).toFixed(1) + ' ' + y(0).toFixed(1);
    var ftth = '';
    tl.forEach(function (p, i) {
      area += 'L' + x(i).toFixed(1) + ' ' + y(p.served_share).toFixed(1);
      ftth += (i ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(p.ftth_ready_share).toFixed(1);
    });
    area += 'L' + x(tl.length - 1).toFixed(1) + ' ' + y(0).toFixed(1) + 'Z';
    var first = tl[0], last = tl[tl.length - 1];
    var chart = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': t('timelineTitle') + '. ' +
      t('timelineRange', first.month, fmtPct(first.served_share), last.month, fmtPct(last.served_share)) }, [
      sv('line', { x1: L, y1: y(0), x2: W - 6, y2: y(0), stroke: '#8c959f' }),
      sv('line', { x1: L, y1: y(1), x2: W - 6, y2: y(1), stroke: '#d0d7de', 'stroke-dasharray': '3 3' }),
      sv('text', { x: L - 4, y: y(1) + 4, 'text-anchor': 'end', text: '100 %' }),
      sv('text', { x: L - 4, y: y(0) + 4, 'text-anchor': 'end', text: '0 %' }),
      sv('path', { class: 'area', d: area }),
      sv('path', { class: 'ftth', d: ftth }),
      sv('text', { x: L, y: H - 6, text: first.month }),
      sv('text', { x: W - 6, y: H - 6, 'text-anchor': 'end', text: last.month })
    ]);
    fig.appendChild(chart);
    fig.appendChild(el('figcaption', { class: 'hint', text: t('timelineTitle') + ' — ' +
      t('timelineRange', first.month, fmtPct(first.served_share), last.month, fmtPct(last.served_share)) }));
    return fig;
  }

  // ---------------------------------------------------------------------
  // Loading a comune, or the consortium.

  // loadScope shows comune slug ('' the consortium): its layers, fitted to
  // the view, then its layers by area. It resolves when the map is drawn.
  function loadScope(slug) {
    var seq = ++state.scopeSeq;
    state.scope = slug;
    state.layers = {};
    state.area = {};
    allPromise = null;
    if (!state.rollout || state.rollout.slug !== slug) state.rollout = null;
    mapEl.setAttribute('data-ready', 'false');
    mapEl.setAttribute('data-scope', slug);
    hideTooltip();
    updateScopeText();
    buildLegend();
    setStatus(t('mapLoading'));
    var fixed = DATA_LAYERS.filter(function (n) { return AREA_LAYERS.indexOf(n) < 0 && (slug || CONSORTIUM_LAYERS[n]); });
    DATA_LAYERS.forEach(function (n) { if (!slug && !CONSORTIUM_LAYERS[n]) state.layers[n] = { status: 'scope', features: [] }; });
    if (proj) drawAll();
    updateLayerNotes();
    renderTable();
    if (nav.view === 'table') loadRollout().then(renderTable);
    return Promise.all(fixed.map(function (n) { return loadLayer(n); })).then(function (results) {
      if (seq !== state.scopeSeq) return;
      fixed.forEach(function (n, i) { state.layers[n] = results[i]; });
      state.sitesUpdated = new Date();
      setupProjection();
      fitView();
      drawAll();
      updateLayerNotes();
      updateMapUpdated();
      return loadAreaLayers(true).then(function () {
        if (seq !== state.scopeSeq) return;
        var failed = fixed.every(function (n) { return state.layers[n].status === 'unavailable'; });
        setStatus(failed ? t('mapFailed', state.layers.comune.code || '') : '');
        drawAll();
        updateLayerNotes();
        mapEl.setAttribute('data-ready', 'true');
      });
    }).catch(function (e) {
      if (seq !== state.scopeSeq) return;
      setStatus(t('mapFailed', String(e && e.message || e)));
      mapEl.setAttribute('data-ready', 'error');
    });
  }

  function refreshSites() {
    if (document.hidden || state.scope === null) return;
    var seq = state.scopeSeq;
    loadLayer('sites').then(function (st) {
      if (seq !== state.scopeSeq) return;
      if (st.status === 'unavailable' && state.layers.sites && state.layers.sites.status === 'ok') return; // keep the last good one
      state.layers.sites = st;
      state.sitesUpdated = new Date();
      drawLayer('sites');
      updateBadge();
      updateLayerNotes();
      updateMapUpdated();
    });
  }

  function init() {
    if (cfg.tileURL) {
      $('#layer-tiles-label').hidden = false;
      var ta = $('#tile-attribution');
      ta.hidden = !ta.textContent.trim();
      mapEl.classList.add('has-tiles');
    }
    applyLang();
    renderAnswer();
    setupControls();
    setStatus(t('mapLoading'));
    loadComuni().then(function () {
      updateScopeText();
      return applyNav(readNav());
    }).then(function () {
      window.setInterval(refreshSites, SITES_REFRESH_MS);
      // Back from another tab: show the sites as they are now.
      document.addEventListener('visibilitychange', function () { if (!document.hidden) refreshSites(); });
    });
    window.addEventListener('popstate', function () {
      hideTooltip();
      var n = readNav();
      if (n.address !== nav.address || n.lat !== nav.lat || n.lon !== nav.lon || n.comune !== nav.comune || n.view !== nav.view) {
        $('#search-input').value = n.address;
        applyNav(n);
      }
    });
  }

  init();
}());
