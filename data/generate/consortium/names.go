package main

// streetNames are common Italian street names (people, dates, places,
// trees), invented for the synthetic registers: a name here says nothing
// about any real street of the comune.
var streetNames = []string{
	"Roma", "Garibaldi", "Mazzini", "Dante", "Verdi", "Cavour", "Marconi", "Matteotti",
	"XX Settembre", "IV Novembre", "XXV Aprile", "II Giugno", "Primo Maggio", "Vittorio Veneto",
	"Manzoni", "Leopardi", "Carducci", "Pascoli", "Foscolo", "Petrarca", "Ariosto", "Tasso",
	"Galilei", "Volta", "Fermi", "Meucci", "Pacinotti", "Avogadro", "Torricelli", "Spallanzani",
	"Gramsci", "Don Minzoni", "Don Sturzo", "De Gasperi", "Moro", "Einaudi", "Pertini", "Gobetti",
	"Kennedy", "Martin Luther King", "Gandhi", "Papa Giovanni XXIII", "Paolo VI", "San Francesco",
	"Sant'Antonio", "San Giuseppe", "San Rocco", "Santa Maria", "San Pietro", "San Martino",
	"San Giorgio", "San Bernardino", "Santa Lucia", "San Carlo", "Sant'Ambrogio", "San Giacomo",
	"Chiesa", "Castello", "Municipio", "Mulino", "Fornace", "Stazione", "Scuole", "Campo Sportivo",
	"Cimitero", "Industria", "Artigianato", "Commercio", "Lavoro", "Pace", "Libertà", "Repubblica",
	"Costituzione", "Europa", "Italia", "Lombardia", "Milano", "Cremona", "Lodi", "Bergamo",
	"Brescia", "Piacenza", "Mantova", "Pavia", "Como", "Treviglio", "Caravaggio", "Soresina",
	"Adda", "Serio", "Oglio", "Po", "Ticino", "Brembo", "Piave", "Isonzo", "Tagliamento",
	"Monte Grappa", "Monte Bianco", "Monte Rosa", "Cervino", "Adamello", "Stelvio", "Tonale",
	"Tigli", "Pioppi", "Olmi", "Querce", "Castagni", "Platani", "Betulle", "Salici", "Aceri",
	"Ciliegi", "Gelsi", "Noci", "Ontani", "Frassini", "Carpini", "Cipressi", "Pini", "Abeti",
	"Rose", "Viole", "Gigli", "Tulipani", "Margherite", "Glicini", "Gerani", "Ortensie",
	"Artigiani", "Alpini", "Bersaglieri", "Caduti", "Partigiani", "Martiri della Libertà",
	"Donatori di Sangue", "Fratelli Cervi", "Fratelli Bandiera", "Fratelli Rosselli",
	"Battisti", "Oberdan", "Sauro", "Filzi", "Nievo", "Mameli", "Pellico", "Goldoni", "Alfieri",
	"Parini", "Monti", "Verga", "Pirandello", "Deledda", "Montale", "Ungaretti", "Quasimodo",
	"Leonardo da Vinci", "Michelangelo", "Raffaello", "Giotto", "Tiziano", "Caravaggio Merisi",
	"Bellini", "Donizetti", "Rossini", "Puccini", "Ponchielli", "Monteverdi", "Stradivari",
	"Vivaldi", "Boccaccio", "Machiavelli", "Colombo", "Vespucci", "Magellano", "Polo",
	"Gorizia", "Trento", "Trieste", "Fiume", "Zara", "Pola", "Bligny", "Caporetto",
	"Solferino", "San Martino della Battaglia", "Custoza", "Magenta", "Palestro", "Montebello",
	"Cadorna", "Diaz", "Duca d'Aosta", "Regina Margherita", "Umberto I", "Vittorio Emanuele II",
	"Dei Mille", "Risorgimento", "Unità d'Italia", "Indipendenza", "Vittoria", "Concordia",
	"Sole", "Luna", "Stelle", "Aurora", "Primavera", "Estate", "Autunno", "Inverno",
	"Campagna", "Prati", "Campi", "Boschi", "Rogge", "Fontanili", "Canale", "Naviglio",
	"Borgo", "Borgonuovo", "Vecchia", "Nuova", "Lunga", "Larga", "Stretta", "Alta", "Bassa",
	"Circonvallazione", "Provinciale", "Comunale", "Vicinale", "Cremasca", "Bergamasca",
}

// cascinaNames are common names of Lombard farmsteads, invented for the
// synthetic registers like streetNames.
var cascinaNames = []string{
	"Colombara", "Palazzo", "Bosco", "Mulino", "Gerra", "Fornace", "Boschetto", "Castello",
	"Ronchi", "Breda", "Cantarana", "Campagnola", "Casella", "Cassinetta", "Chiosi", "Corte",
	"Fontana", "Gerone", "Isola", "Lame", "Malpensata", "Morta", "Motta", "Palazzina",
	"Pellegrina", "Pioppino", "Portico", "Prato", "Quarto", "Roggia", "Santa Maria",
	"San Giacomo", "San Lorenzo", "San Pietro", "Santa Croce", "Torre", "Torrazza", "Valle",
	"Vignola", "Zerbi", "Belvedere", "Bettola", "Bissone", "Campo Lungo", "Canova", "Cascinetta",
	"Ceresa", "Colombarola", "Costa", "Dosso", "Fienile", "Gabbiana", "Girola", "Grumello",
	"Lanca", "Loghetto", "Madonnina", "Marzale", "Mirandola", "Moretta", "Nuova", "Olmo",
	"Pasqualina", "Pianta", "Pradella", "Ramella", "Rivoltella", "Ronco", "Sabbiona", "Selva",
	"Stalla", "Tesa", "Torchio", "Vescovo", "Villetta", "Zappello Vecchio",
}
